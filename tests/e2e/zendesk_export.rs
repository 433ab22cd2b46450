//! A generated Zendesk macros export (`GET /api/v2/macros`), as large as asked, with what
//! an import of it must report. Shared by the e2e test of `ImportShortcutsStream` and the
//! import bench (`bench/src/bin/shortcuts-import-bench.rs` includes this file), so both
//! measure and check the same file.
//!
//! Every macro has the fields the API returns. Its reply mixes what real exports hold:
//! plain comments with requester placeholders, rich HTML comments (paragraphs, a list, a
//! link), `{{current_user.signature}}` and custom ticket fields (no equivalent: declared
//! inputs), `Category::Sub::Title` folders, titles repeated across folders (bangs suffixed),
//! macros that only set fields (skipped: no reply text) and a few with Liquid logic (failed).

/// What an import of the export must report, item by item counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub total: usize,
    pub created: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// The export's JSON and what importing it into an empty workspace gives.
pub fn zendesk_export(macros: usize) -> (String, Expected) {
    let mut items = Vec::with_capacity(macros);
    let (mut skipped, mut failed) = (0, 0);
    for i in 0..macros {
        let id = 360_000_000_000u64 + i as u64;
        let category = ["Billing", "Shipping", "Account", "Returns", "Technical"][i % 5];
        // Every 50th macro reuses a title of another folder: its bang gets a suffix.
        let title = if i % 50 == 7 {
            format!("{category}::Sub {}::Follow up", i % 3)
        } else {
            format!("{category}::Sub {}::Macro number {i}", i % 7)
        };
        let comment = if i % 10 == 3 {
            skipped += 1;
            None
        } else if i % 997 == 5 {
            failed += 1;
            Some(serde_json::json!({
                "field": "comment_value",
                "value": "{% if ticket.requester.first_name %}Hi{% endif %}"
            }))
        } else if i % 4 == 1 {
            Some(serde_json::json!({
                "field": "comment_value_html",
                "value": format!(
                    "<p>Hi {{{{ticket.requester.first_name}}}},</p><p>About ticket #{{{{ticket.id}}}} ({category}):</p><ul><li>Check <a href=\"https://help.example.com/articles/{i}\" target=\"_blank\">article {i}</a></li><li>Reply &amp; we&#39;ll help</li></ul><p>{{{{current_user.signature}}}}</p>"
                )
            }))
        } else {
            Some(serde_json::json!({
                "field": "comment_value",
                "value": ["channel:all", format!(
                    "Hello {{{{ticket.requester.first_name}}}},\n\nYour order field: {{{{ticket.ticket_field_{}}}}}.\nMacro {i} of {category}.\n\nBest,\n{{{{current_user.first_name}}}}",
                    360_001 + i % 13
                )]
            }))
        };
        let mut actions = vec![serde_json::json!({"field": "status", "value": "pending"})];
        actions.extend(comment);
        actions.push(serde_json::json!({"field": "current_tags", "value": format!("{} generated", category.to_lowercase())}));
        items.push(serde_json::json!({
            "url": format!("https://example.zendesk.com/api/v2/macros/{id}.json"),
            "id": id,
            "title": title,
            "active": i % 17 != 0,
            "updated_at": "2025-08-12T09:14:02Z",
            "created_at": "2024-02-01T10:00:00Z",
            "default": false,
            "position": 10_000 + i,
            "description": format!("Generated macro {i}"),
            "actions": actions,
            "restriction": null,
            "raw_title": title,
        }));
    }
    let export = serde_json::json!({
        "macros": items,
        "next_page": null,
        "previous_page": null,
        "count": macros,
    });
    let expected = Expected {
        total: macros,
        created: macros - skipped - failed,
        skipped,
        failed,
    };
    (export.to_string(), expected)
}
