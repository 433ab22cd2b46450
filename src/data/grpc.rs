//! The gRPC source: an upstream service implementing our `shortcuts.v1.ContactDataSourceService`
//! (GetContact, GetSession returning `google.protobuf.Struct`s), for companies whose CRM
//! is another microservice. NOT_FOUND means an unknown id; RESOURCE_EXHAUSTED is a rate
//! limit, with its `google.rpc.RetryInfo` (if any) as the Retry-After.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use prost_types::value::Kind;
use serde_json::{Map, Value as Json};
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use super::source::{ContactPage, DataSource, ListedContact, SourceError};
use super::{ContactQuery, Record, ScopeKind};
use crate::pb;
use crate::pb::contact_data_source_service_client::ContactDataSourceServiceClient;

/// How deeply an upstream's Structs may nest before we refuse them.
const MAX_DEPTH: usize = 32;

pub struct GrpcSource {
    client: ContactDataSourceServiceClient<Channel>,
}

impl GrpcSource {
    /// Connects lazily: the upstream need not be up when the service starts.
    pub fn new(endpoint: &str) -> Result<Self, String> {
        let channel = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(GrpcSource {
            client: ContactDataSourceServiceClient::new(channel),
        })
    }
}

#[async_trait]
impl DataSource for GrpcSource {
    fn name(&self) -> &str {
        "grpc"
    }

    /// Reads `page_size` contacts of the upstream's `ListContacts` stream, then closes it;
    /// the next page resumes at the last one's cursor.
    async fn list_contacts(
        &self,
        workspace_id: &str,
        cursor: &str,
        page_size: u32,
        _query: &ContactQuery,
        timeout: Duration,
    ) -> Result<ContactPage, SourceError> {
        let mut client = self.client.clone();
        let mut request = tonic::Request::new(pb::ListContactsRequest {
            workspace_id: workspace_id.to_string(),
            cursor: cursor.to_string(),
            page_size,
        });
        request.set_timeout(timeout);
        pass_trace_context(&mut request);
        let read = async {
            let mut stream = client
                .list_contacts(request)
                .await
                .map_err(|status| match status.code() {
                    Code::Unimplemented => SourceError::Misconfigured(
                        "the upstream does not implement ListContacts, so its contacts cannot be listed".into(),
                    ),
                    _ => classify(status),
                })?
                .into_inner();
            let mut page = ContactPage::default();
            let mut last_cursor = None;
            while page.contacts.len() < page_size.max(1) as usize {
                let Some(item) = stream.message().await.map_err(classify)? else {
                    return Ok(page);
                };
                let contact = item.contact.unwrap_or_default();
                page.contacts.push(ListedContact {
                    id: item.id,
                    record: std::sync::Arc::new(Record {
                        native: struct_to_map(contact.fields)?,
                        custom: struct_to_map(contact.data)?,
                    }),
                    complete: true,
                });
                last_cursor = Some(item.cursor);
            }
            page.next = last_cursor;
            Ok(page)
        };
        tokio::time::timeout(timeout, read)
            .await
            .unwrap_or_else(|_| {
                Err(SourceError::Transient(
                    "ListContacts: no page within the timeout".into(),
                ))
            })
    }

    async fn fetch(
        &self,
        kind: ScopeKind,
        workspace_id: &str,
        id: &str,
        timeout: Duration,
    ) -> Result<Record, SourceError> {
        let mut client = self.client.clone();
        let (fields, data) = match kind {
            ScopeKind::Contact => {
                let mut request = tonic::Request::new(pb::GetContactRequest {
                    workspace_id: workspace_id.to_string(),
                    id: id.to_string(),
                });
                request.set_timeout(timeout);
                pass_trace_context(&mut request);
                let reply = client.get_contact(request).await.map_err(classify)?;
                let reply = reply.into_inner();
                (reply.fields, reply.data)
            }
            ScopeKind::Session => {
                let mut request = tonic::Request::new(pb::GetSessionRequest {
                    workspace_id: workspace_id.to_string(),
                    id: id.to_string(),
                });
                request.set_timeout(timeout);
                pass_trace_context(&mut request);
                let reply = client.get_session(request).await.map_err(classify)?;
                let reply = reply.into_inner();
                (reply.fields, reply.data)
            }
        };
        Ok(Record {
            native: struct_to_map(fields)?,
            custom: struct_to_map(data)?,
        })
    }
}

fn classify(status: tonic::Status) -> SourceError {
    let message = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::NotFound => SourceError::NotFound,
        // CANCELLED is what a tonic upstream answers when our grpc-timeout ran out first.
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Aborted
        | Code::Unknown => SourceError::Transient(message),
        // The gRPC way of saying Retry-After: a google.rpc.RetryInfo in the status details.
        Code::ResourceExhausted => SourceError::RateLimited(
            tonic_types::StatusExt::get_details_retry_info(&status)
                .and_then(|info| info.retry_delay),
        ),
        Code::Unauthenticated | Code::PermissionDenied => SourceError::Unauthorized(message),
        _ => SourceError::Fatal(message),
    }
}

fn struct_to_map(value: Option<prost_types::Struct>) -> Result<Map<String, Json>, SourceError> {
    let fields = value.map(|s| s.fields).unwrap_or_default();
    fields_to_map(fields, 0)
}

fn fields_to_map(
    fields: BTreeMap<String, prost_types::Value>,
    depth: usize,
) -> Result<Map<String, Json>, SourceError> {
    fields
        .into_iter()
        .map(|(key, value)| Ok((key, to_json(value, depth + 1)?)))
        .collect()
}

fn to_json(value: prost_types::Value, depth: usize) -> Result<Json, SourceError> {
    if depth > MAX_DEPTH {
        return Err(SourceError::Fatal(format!(
            "the upstream's data nests deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::NumberValue(n)) => {
            // Structs carry every number as a double; whole ones print without ".0".
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Json::from(n as i64)
            } else {
                serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
            }
        }
        Some(Kind::StringValue(s)) => Json::String(s),
        Some(Kind::ListValue(list)) => Json::Array(
            list.values
                .into_iter()
                .map(|v| to_json(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Some(Kind::StructValue(s)) => Json::Object(fields_to_map(s.fields, depth)?),
    })
}

/// The current call's W3C trace context, passed on so that the upstream's traces join ours.
fn pass_trace_context<T>(request: &mut tonic::Request<T>) {
    if let Some(value) = crate::telemetry::current_traceparent().and_then(|tp| tp.parse().ok()) {
        request.metadata_mut().insert("traceparent", value);
    }
}
