//! Shortcut inputs (issue 15): declared with the shortcut, checked when written, carried by
//! every read, persisted by both stores; a render says which required ones are still
//! needed, a strict one fails, and a value of the wrong type is named.

use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{Backend, PgSchema, TestServer};
use crate::{DEMO, JANE, assert_status, create, structure};
use serde_json::json;
use shortcuts::pb;
use shortcuts::pb::render_shortcut_request::Shortcut;

crate::on_both_backends!(inputs_are_stored_and_carried_by_every_read);

pub fn input(name: &str, kind: pb::InputType, required: bool) -> pb::ShortcutInput {
    pb::ShortcutInput {
        name: name.into(),
        label: String::new(),
        r#type: kind as i32,
        required,
        choices: vec![],
        default_value: String::new(),
        help: String::new(),
    }
}

const REFUND: &str = "Hi <<contact.first_name>>, {% if vars.reason == \"late\" %}sorry for the delay: {% endif %}{% if false %}<<vars.amount | currency(\"EUR\")>>{% endif %}done.";

fn refund_inputs() -> Vec<pb::ShortcutInput> {
    let mut reason = input("reason", pb::InputType::Choice, false);
    reason.choices = vec!["late".into(), "broken".into()];
    reason.default_value = "broken".into();
    reason.label = "Why".into();
    reason.help = "What went wrong".into();
    vec![input("amount", pb::InputType::Money, true), reason]
}

fn with_inputs(
    bang: &str,
    body: &str,
    inputs: Vec<pb::ShortcutInput>,
) -> pb::CreateShortcutRequest {
    pb::CreateShortcutRequest {
        inputs,
        ..create(DEMO, bang, body)
    }
}

fn render(bang: &str, vars: serde_json::Value, strict: bool) -> pb::RenderShortcutRequest {
    pb::RenderShortcutRequest {
        workspace_id: DEMO.into(),
        shortcut: Some(Shortcut::Bang(bang.into())),
        contact_id: JANE.into(),
        vars: Some(structure(vars)),
        strict,
        ..Default::default()
    }
}

async fn inputs_are_stored_and_carried_by_every_read(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let schema = match backend {
        Backend::Postgres => Some(PgSchema::create().await),
        Backend::Sqlite => None,
    };
    let store = match &schema {
        Some(schema) => schema.url(),
        None => dir.path().join("inputs.db").display().to_string(),
    };
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let created = client
        .create_shortcut(with_inputs("refund-ask", REFUND, refund_inputs()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.inputs.len(), 2);
    assert_eq!(
        created.inputs[0].label, "amount",
        "an empty label is the name"
    );
    assert_eq!(created.inputs[1].choices, ["late", "broken"]);
    assert_eq!(created.inputs[1].help, "What went wrong");

    let got = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Id(created.id.clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.inputs, created.inputs);
    assert!(got.warnings.is_empty(), "reads carry no warnings");
    let listed = client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let found = listed
        .shortcuts
        .iter()
        .find(|s| s.id == created.id)
        .unwrap();
    assert_eq!(found.inputs, created.inputs);
    let search = client
        .search_shortcuts(pb::SearchShortcutsRequest {
            workspace_id: DEMO.into(),
            query: "refund-ask".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(search.matches[0].id, created.id);
    assert_eq!(search.matches[0].inputs, created.inputs);

    // An update without `inputs` keeps them; an empty list removes them.
    let kept = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: 1,
            title: Some("Refund with a reason".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.inputs, created.inputs);

    // Restarted on the same store: the inputs were persisted.
    server.stop().await;
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let got = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Id(created.id.clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.inputs, created.inputs);
    assert_eq!(got.version, 2);

    let emptied = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id.clone(),
            version: 2,
            inputs: Some(pb::InputList { inputs: vec![] }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(emptied.inputs.is_empty());
    server.stop().await;
    let server = TestServer::start_on(&store, &[]);
    let mut client = server.client().await;
    let got = client
        .get_shortcut(pb::GetShortcutRequest {
            workspace_id: DEMO.into(),
            key: Some(pb::get_shortcut_request::Key::Id(created.id.clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(got.inputs.is_empty());
    drop(schema);
}

#[tokio::test]
async fn declarations_are_checked_when_written() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let mut choices_on_text = input("code", pb::InputType::Text, false);
    choices_on_text.choices = vec!["a".into()];
    let mut bad_default = input("amount", pb::InputType::Money, false);
    bad_default.default_value = "ten euros".into();
    let mut bad_choice_default = input("reason", pb::InputType::Choice, false);
    bad_choice_default.choices = vec!["late".into()];
    bad_choice_default.default_value = "early".into();
    let many: Vec<_> = (0..33)
        .map(|i| input(&format!("i{i}"), pb::InputType::Text, false))
        .collect();
    let huge_name = input(&"n".repeat(100_000), pb::InputType::Text, false);
    for (inputs, field, needle) in [
        (
            vec![input("1st", pb::InputType::Text, false)],
            "inputs[0].name",
            "letter",
        ),
        (
            vec![
                input("amount", pb::InputType::Money, false),
                input("Amount", pb::InputType::Text, false),
            ],
            "inputs[1].name",
            "already the name of inputs[0]",
        ),
        (
            vec![input("x", pb::InputType::Unspecified, false)],
            "inputs[0].type",
            "INPUT_TYPE_TEXT",
        ),
        (
            vec![choices_on_text],
            "inputs[0].choices",
            "only an input of type CHOICE",
        ),
        (
            vec![input("reason", pb::InputType::Choice, false)],
            "inputs[0].choices",
            "needs 1 to 100 choices",
        ),
        (
            vec![bad_default],
            "inputs[0].default_value",
            "not an amount",
        ),
        (
            vec![bad_choice_default],
            "inputs[0].default_value",
            "not one of the choices",
        ),
        (many, "inputs", "more than 32 inputs"),
        (vec![huge_name], "inputs[0].name", "bytes in all"),
    ] {
        let status = assert_status(
            client
                .create_shortcut(with_inputs("bad-inputs", "Hi <<vars.x>>", inputs))
                .await,
            Code::InvalidArgument,
            &[field, needle],
        );
        assert!(status.message().len() < 2000, "{}", status.message().len());
        let violations = status.get_error_details();
        let fields: Vec<&str> = violations
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, [field]);
    }
    // Nothing was written.
    assert_status(
        client
            .get_shortcut(pb::GetShortcutRequest {
                workspace_id: DEMO.into(),
                key: Some(pb::get_shortcut_request::Key::Bang("bad-inputs".into())),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        &[],
    );
    // Updates are checked the same way.
    let created = client
        .create_shortcut(with_inputs("good-inputs", REFUND, refund_inputs()))
        .await
        .unwrap()
        .into_inner();
    assert_status(
        client
            .update_shortcut(pb::UpdateShortcutRequest {
                workspace_id: DEMO.into(),
                id: created.id,
                version: 1,
                inputs: Some(pb::InputList {
                    inputs: vec![input("a b", pb::InputType::Text, false)],
                }),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        &["inputs[0].name"],
    );
}

#[tokio::test]
async fn a_render_names_the_inputs_it_still_needs() {
    let server = TestServer::start();
    let mut client = server.client().await;
    client
        .create_shortcut(with_inputs("refund-ask", REFUND, refund_inputs()))
        .await
        .unwrap();

    // The amount is read in a branch that does not run: still needed.
    let reply = client
        .render_shortcut(render("refund-ask", json!({}), false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.needs_input, ["amount"]);
    assert!(reply.missing.is_empty(), "{:?}", reply.missing);
    // An empty form field is not a value.
    let reply = client
        .render_shortcut(render("refund-ask", json!({"amount": ""}), false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.needs_input, ["amount"]);

    // Strict: FAILED_PRECONDITION naming the input.
    let status = assert_status(
        client
            .render_shortcut(render("refund-ask", json!({}), true))
            .await,
        Code::FailedPrecondition,
        &["amount"],
    );
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "MISSING_INPUT");
    let subjects: Vec<&str> = details
        .precondition_failure()
        .unwrap()
        .violations
        .iter()
        .map(|v| v.subject.as_str())
        .collect();
    assert_eq!(subjects, ["vars.amount"]);

    // Supplied: nothing needed, strict passes; the choice's default filled `reason`.
    let reply = client
        .render_shortcut(render("refund-ask", json!({"amount": "12.5"}), true))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.needs_input.is_empty());
    assert_eq!(reply.text, "Hi Jane, done.");
    let reply = client
        .render_shortcut(render(
            "refund-ask",
            json!({"amount": 12.5, "reason": "late"}),
            true,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "Hi Jane, sorry for the delay: done.");

    // A value of the wrong type: INVALID_ARGUMENT naming the input.
    for (vars, field, needle) in [
        (json!({"amount": "twelve"}), "vars.amount", "not an amount"),
        (json!({"amount": [1]}), "vars.amount", "not an amount"),
        (
            json!({"amount": 1, "reason": "bored"}),
            "vars.reason",
            "not one of the choices",
        ),
    ] {
        let status = assert_status(
            client
                .render_shortcut(render("refund-ask", vars, false))
                .await,
            Code::InvalidArgument,
            &[field, needle],
        );
        let details = status.get_error_details();
        assert_eq!(
            details.bad_request().unwrap().field_violations[0].field,
            field
        );
    }
}

#[tokio::test]
async fn input_values_are_formatted_by_the_data_filters() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let mut due = input("due", pb::InputType::Date, false);
    due.default_value = "2026-03-01".into();
    let mut link = input("link", pb::InputType::Url, false);
    link.default_value = "https://example.com/x".into();
    client
        .create_shortcut(with_inputs(
            "formatted-inputs",
            "<<vars.amount | currency(\"EUR\")>> / <<vars.count | number>> / <<vars.due | date(\"%d %B %Y\")>> / <<vars.mail>> / <<vars.link>>",
            vec![
                input("amount", pb::InputType::Money, true),
                input("count", pb::InputType::Number, true),
                due,
                input("mail", pb::InputType::Email, false),
                link,
            ],
        ))
        .await
        .unwrap();
    let mut request = render(
        "formatted-inputs",
        json!({"amount": "1234.5", "count": 12000, "mail": "a@b.example"}),
        true,
    );
    request.locale = "fr".into();
    let reply = client.render_shortcut(request).await.unwrap().into_inner();
    // The same value as contact data formats the same way.
    let data = client
        .render_template(pb::RenderTemplateRequest {
            workspace_id: DEMO.into(),
            body: "<<1234.5 | currency(\"EUR\")>> / <<12000 | number>> / <<\"2026-03-01\" | date(\"%d %B %Y\")>>".into(),
            locale: "fr".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.text,
        format!("{} / a@b.example / https://example.com/x", data.text)
    );
    let status = assert_status(
        client
            .render_shortcut(render(
                "formatted-inputs",
                json!({"amount": 1, "count": 1, "mail": "not an address"}),
                false,
            ))
            .await,
        Code::InvalidArgument,
        &["vars.mail", "not an email address"],
    );
    drop(status);
    assert_status(
        client
            .render_shortcut(render(
                "formatted-inputs",
                json!({"amount": 1, "count": 1, "link": "javascript:alert(1)"}),
                false,
            ))
            .await,
        Code::InvalidArgument,
        &["vars.link", "not an http or https URL"],
    );
}

#[tokio::test]
async fn undeclared_and_unused_inputs_are_warned_about() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let body = "Refund of <<vars.amont>>\n{% if vars.note %}<<vars.note>>{% endif %}";
    let inputs = vec![
        input("amount", pb::InputType::Money, true),
        input("unused", pb::InputType::Text, false),
    ];
    let reply = client
        .validate_template(pb::ValidateTemplateRequest {
            workspace_id: DEMO.into(),
            body: body.into(),
            inputs: inputs.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.valid, "warnings never make a body invalid");
    let warnings: Vec<(&str, u32, u32, &str)> = reply
        .warnings
        .iter()
        .map(|w| (w.field.as_str(), w.line, w.column, w.suggestion.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [
            ("body", 1, 13, "vars.amount"),
            ("body", 2, 7, ""),
            ("inputs[0]", 0, 0, ""),
            ("inputs[1]", 0, 0, ""),
        ]
    );
    assert!(
        reply.warnings[0]
            .message
            .contains("`vars.amont` is not a declared input")
    );
    assert!(
        reply.warnings[2]
            .message
            .contains("\"amount\" is never read")
    );

    // Create and Update return the same warnings beside the saved shortcut.
    let created = client
        .create_shortcut(with_inputs("warned", body, inputs.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.warnings, reply.warnings);
    assert_eq!(created.version, 1, "warnings do not refuse the write");
    let updated = client
        .update_shortcut(pb::UpdateShortcutRequest {
            workspace_id: DEMO.into(),
            id: created.id,
            version: 1,
            body: Some("Refund of <<vars.amount>> <<vars.unused>>".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(updated.warnings.is_empty(), "{:?}", updated.warnings);

    // Bad declarations in a validation are named like in a write.
    assert_status(
        client
            .validate_template(pb::ValidateTemplateRequest {
                workspace_id: DEMO.into(),
                body: body.into(),
                inputs: vec![input("", pb::InputType::Text, false)],
            })
            .await,
        Code::InvalidArgument,
        &["inputs[0].name"],
    );
}

/// The starter library declares what it reads: every starter validates without warnings.
#[tokio::test]
async fn the_starter_library_declares_its_inputs() {
    let server = TestServer::start();
    let mut client = server.client().await;
    let listed = client
        .list_shortcuts(pb::ListShortcutsRequest {
            workspace_id: DEMO.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut with_inputs = 0;
    for shortcut in &listed.shortcuts {
        with_inputs += usize::from(!shortcut.inputs.is_empty());
        let reply = client
            .validate_template(pb::ValidateTemplateRequest {
                workspace_id: DEMO.into(),
                body: shortcut.body.clone(),
                inputs: shortcut.inputs.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let input_warnings: Vec<_> = reply
            .warnings
            .iter()
            .filter(|w| w.message.contains("input"))
            .collect();
        assert!(
            input_warnings.is_empty(),
            "!{}: {input_warnings:?}",
            shortcut.bang
        );
    }
    assert!(with_inputs >= 7, "{with_inputs}");
}
