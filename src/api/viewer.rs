//! Whom a call shows shortcuts to (issue 17): an admin sees every shortcut; a render token
//! sees as the agent (and teams) the token file gives it; a service token sees as the agent
//! its request names in `agent.id` (and `agent.team_ids`), or, naming none, only the
//! workspace's shared shortcuts.

use prost_types::value::Kind;

use crate::auth::{Principal, Role};
use crate::catalog::Viewer;
use crate::catalog::visibility;
use crate::error::{Error, Result};
use crate::ids::WorkspaceId;
use crate::render::Target;

/// The viewer of a call by `caller` whose request carries `agent` (its `agent` scope).
pub(super) fn viewer(caller: &Principal, agent: Option<&prost_types::Struct>) -> Result<Viewer> {
    match caller.role() {
        Role::Admin => Ok(Viewer::Everyone),
        Role::Render => Ok(Viewer::Agent {
            id: caller.agent().map(str::to_owned),
            teams: caller.teams().to_vec(),
        }),
        Role::Service => named_agent(agent),
    }
}

/// The agent a service names in a request's `agent` scope.
fn named_agent(agent: Option<&prost_types::Struct>) -> Result<Viewer> {
    let Some(agent) = agent else {
        return Ok(Viewer::anonymous());
    };
    let kind = |name: &str| agent.fields.get(name).and_then(|v| v.kind.as_ref());
    let id = match kind("id") {
        None | Some(Kind::NullValue(_)) => None,
        Some(Kind::StringValue(id)) if id.is_empty() => None,
        Some(Kind::StringValue(id)) => Some(visibility::party_id("agent.id", id)?),
        // JSON clients often send numeric agent ids.
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 1e15 => {
            Some(format!("{}", *n as i64))
        }
        Some(_) => {
            return Err(Error::invalid(
                "agent.id",
                "must be a string (the agent the service acts for)",
            ));
        }
    };
    let teams = match kind("team_ids") {
        None | Some(Kind::NullValue(_)) => Vec::new(),
        Some(Kind::ListValue(list)) if list.values.len() > visibility::MAX_TEAM_IDS => {
            return Err(Error::invalid(
                "agent.team_ids",
                format!("at most {} team ids", visibility::MAX_TEAM_IDS),
            ));
        }
        Some(Kind::ListValue(list)) => {
            let names = list
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| match &v.kind {
                    Some(Kind::StringValue(s)) => Ok(s.clone()),
                    _ => Err(Error::invalid(
                        format!("agent.team_ids[{i}]"),
                        "must be a string",
                    )),
                })
                .collect::<Result<Vec<String>>>()?;
            visibility::team_ids("agent.team_ids", &names)?
        }
        Some(_) => {
            return Err(Error::invalid(
                "agent.team_ids",
                "must be a list of team ids",
            ));
        }
    };
    Ok(Viewer::Agent { id, teams })
}

/// Refuses, before any work, to render for `viewer` what it may not see: a stored shortcut
/// it may not see is a missing one, and so is, to an inline template, a snippet it may not
/// see. (A stored shortcut's own includes are its shared text: see docs/api.md.)
pub(super) fn check_target(
    api: &super::ShortcutApi,
    workspace_id: &WorkspaceId,
    target: &Target,
    viewer: &Viewer,
) -> Result<()> {
    match target {
        Target::Stored(key) => api.catalog.get_as(workspace_id, key, viewer).map(drop),
        // Compiled once more only when the check can matter; the render compiles it again.
        Target::Inline(body)
            if *viewer != Viewer::Everyone
                && !crate::template::include::include_tags(body).is_empty() =>
        {
            api.catalog
                .compile_inline_as(workspace_id, body, viewer)
                .map(drop)
        }
        // Already resolved (batches): checked when it was.
        Target::Inline(_) | Target::Resolved(_) => Ok(()),
    }
}
