//! What every RPC of ours passes before doing work: admission (a cap on concurrent calls,
//! failing fast instead of queueing) and authentication.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::metadata::MetadataMap;

use crate::auth::{Principal, TokenRegistry};
use crate::error::{Error, Result};

pub struct Guard {
    /// `None`: authentication is off (no-auth mode).
    tokens: Option<TokenRegistry>,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

impl Guard {
    pub fn new(tokens: Option<TokenRegistry>, max_in_flight: usize) -> Self {
        Self {
            tokens,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// A slot for one call, or RESOURCE_EXHAUSTED at once when all are taken.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit> {
        self.in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Overloaded {
                limit: self.max_in_flight,
            })
    }

    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Principal> {
        let Some(tokens) = &self.tokens else {
            return Ok(Principal::unrestricted());
        };
        let header = metadata.get("authorization").and_then(|v| v.to_str().ok());
        tokens.authenticate(header)
    }
}
