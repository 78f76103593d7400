//! The JobManager's RPC endpoint: each connection serves the resource manager, and
//! when it closes, the TaskManager that registered on it is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tarpc::context::Context;
use tarpc::server::{BaseChannel, Channel};

use super::Shared;
use crate::rpc::{Hardware, Refusal, Registration, ResourceManager};

/// One connection's server.
#[derive(Clone)]
struct Connection {
    id: u64,
    shared: Arc<Shared>,
    heartbeat_interval: Duration,
}

impl ResourceManager for Connection {
    async fn register(self, _: Context, registration: Registration) -> Result<Duration, Refusal> {
        let result = self.shared.resources().register(registration.clone(), self.id, Instant::now());
        if let Err(refusal) = &result {
            tracing::warn!(taskmanager = %registration.id, %refusal, "refused a TaskManager");
        }
        result.map(|()| self.heartbeat_interval)
    }

    async fn heartbeat(self, _: Context, id: String, hardware: Hardware) -> Result<(), Refusal> {
        self.shared.resources().heartbeat(&id, self.id, hardware, Instant::now())
    }
}

/// Serves every connection of `incoming`.
pub(super) async fn serve<S>(incoming: S, shared: Arc<Shared>, heartbeat_interval: Duration)
where
    S: futures::Stream<Item = std::io::Result<TransportOf>> + Send,
{
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut incoming = std::pin::pin!(incoming);
    while let Some(transport) = incoming.next().await {
        let transport = match transport {
            Ok(t) => t,
            Err(error) => {
                tracing::warn!(%error, "an RPC connection failed to open");
                continue;
            }
        };
        let peer = transport.peer_addr().ok();
        let connection =
            Connection { id: NEXT.fetch_add(1, Ordering::Relaxed), shared: shared.clone(), heartbeat_interval };
        tokio::spawn(async move {
            let id = connection.id;
            let shared = connection.shared.clone();
            BaseChannel::with_defaults(transport)
                .execute(connection.serve())
                .for_each(|response| async move {
                    tokio::spawn(response);
                })
                .await;
            let lost = shared.resources().connection_closed(id);
            if let Some((entry, reason)) = lost {
                let r = &entry.registration;
                tracing::warn!(taskmanager = %r.id, ?peer, "TaskManager {} at {} lost: {reason}", r.id, r.host);
            }
        });
    }
}

/// The transport of one RPC connection.
pub(super) type TransportOf = tarpc::serde_transport::Transport<
    tokio::net::TcpStream,
    tarpc::ClientMessage<crate::rpc::ResourceManagerRequest>,
    tarpc::Response<crate::rpc::ResourceManagerResponse>,
    super::RpcCodec,
>;
