//! The data plane between workers (DESIGN.md section 6): one TCP connection per pair of
//! workers of a job's attempt, carrying every logical channel between their subtasks,
//! with credit-based flow control.
//!
//! - **Who dials**: a worker dials every worker with a smaller index and accepts the
//!   others, so each pair has one connection and no two workers race for it. Listeners
//!   are bound before any address is handed out, so a dial only waits for the peer's
//!   process to answer; it is retried with backoff until the deadline.
//! - **Handshake** ([`PeerHello`]): job, attempt, worker index and the shared secret;
//!   a worker of another attempt, or without the secret, is refused.
//! - **Channels** are named by (edge, producing subtask, consuming subtask), which both
//!   sides derive from the JobGraph. Records are serialized only here.
//! - **Credits**: the receiver grants each channel `taskmanager.network.memory.buffers-per-channel`
//!   credits and returns one for every buffer its task takes; the sender spends one per
//!   buffer — filled until it reaches `taskmanager.memory.segment-size`, so at most a
//!   segment plus one record — and waits without. A reader
//!   thread therefore never finds a receiver's queue full and never waits on a task: a
//!   channel without credit stops only its own sender, not the connection.
//! - A broken connection fails the tasks that use it with an error naming the peer.

mod frame;
mod handshake;
mod remote_channel;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, BufWriter, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs as _};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use spate_core::Data;

pub use handshake::{DATA_PROTOCOL_VERSION, PeerHandshakeError, PeerHello, same_secret, token_accepted};
pub use remote_channel::{RemoteReceiver, RemoteSender};

use crate::channel::{ChannelReceiver, ChannelSender};
use frame::Frame;
use remote_channel::{Inbound, InboundQueue};

/// One logical channel: records of job edge `edge` from subtask `from` of its source
/// vertex to subtask `to` of its target vertex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKey {
    /// The edge's index in the JobGraph.
    pub edge: u32,
    /// The producing subtask.
    pub from: u32,
    /// The consuming subtask.
    pub to: u32,
}

/// How the data plane sizes its buffers.
#[derive(Clone, Copy, Debug)]
pub struct DataPlaneSettings {
    /// `taskmanager.memory.segment-size`: a buffer's size, in bytes.
    pub segment_size: usize,
    /// `taskmanager.network.memory.buffers-per-channel`: credits per channel.
    pub buffers_per_channel: u32,
}

/// Why the data plane could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// No port of the range could be bound.
    #[error("cannot listen for data connections on {host} ports {first}-{last} (taskmanager.data.port): {source}")]
    Listen {
        /// The bind host.
        host: String,
        /// The range.
        first: u16,
        /// The range.
        last: u16,
        /// The last error.
        source: std::io::Error,
    },
    /// A peer could not be reached or refused.
    #[error("cannot connect to worker {worker} at {address}: {reason}")]
    Peer {
        /// The peer's index.
        worker: u32,
        /// Its address.
        address: String,
        /// Why.
        reason: String,
    },
    /// Peers that did not connect before the deadline.
    #[error("workers {} did not connect within {} s", missing.join(", "), timeout.as_secs())]
    Timeout {
        /// Each as `index at host:port`.
        missing: Vec<String>,
        /// How long was waited.
        timeout: Duration,
    },
    /// A channel to a worker this one has no connection with, or declared twice.
    #[error("internal error: channel {key:?} to worker {worker}: {what}")]
    Channel {
        /// The channel.
        key: ChannelKey,
        /// The peer.
        worker: u32,
        /// What is wrong.
        what: &'static str,
    },
    /// A thread could not be started.
    #[error("cannot start a data plane thread: {0}")]
    Thread(std::io::Error),
}

/// A worker's listener for data connections, bound before its address is handed out.
pub struct DataListener {
    listener: TcpListener,
    /// The address peers dial: the advertised host and the bound port.
    pub address: String,
}

impl DataListener {
    /// Binds the first free port of `first..=last` on `bind_host` (0: any port);
    /// peers are told `advertised_host` and that port.
    pub fn bind(bind_host: &str, advertised_host: &str, first: u16, last: u16) -> Result<Self, DataPlaneError> {
        let mut error = None;
        for port in first..=last.max(first) {
            match TcpListener::bind((bind_host, port)) {
                Ok(listener) => {
                    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
                    return Ok(DataListener { listener, address: format!("{advertised_host}:{port}") });
                }
                Err(e) => error = Some(e),
            }
        }
        Err(DataPlaneError::Listen {
            host: bind_host.to_string(),
            first,
            last,
            source: error.unwrap_or_else(|| std::io::Error::other("an empty port range")),
        })
    }
}

/// A connection to one peer, before its threads run.
struct Peer {
    address: String,
    stream: TcpStream,
    out: Sender<Frame>,
    out_queue: Receiver<Frame>,
    receivers: HashMap<ChannelKey, InboundQueue>,
    credits: HashMap<ChannelKey, Sender<()>>,
}

/// A worker's connections to the other workers of its attempt, while its channels are
/// declared; [`start`](Self::start) sets data moving.
pub struct DataPlane {
    me: u32,
    peers: BTreeMap<u32, Peer>,
    settings: DataPlaneSettings,
}

impl DataPlane {
    /// Connects to every other worker of `addresses` (indexed by worker; `hello.worker`
    /// is this one), within `timeout`.
    pub fn connect(
        listener: DataListener,
        addresses: &[String],
        hello: PeerHello,
        settings: DataPlaneSettings,
        timeout: Duration,
    ) -> Result<DataPlane, DataPlaneError> {
        let me = hello.worker;
        let deadline = Instant::now() + timeout;
        let expected: Vec<u32> = ((me + 1)..addresses.len() as u32).collect();
        let (accepted_tx, accepted) = unbounded::<(u32, TcpStream)>();
        if !expected.is_empty() {
            let (hello, expected) = (hello.clone(), expected.clone());
            std::thread::Builder::new()
                .name("spate-data-accept".into())
                .spawn(move || accept_peers(listener.listener, &hello, &expected, deadline, &accepted_tx))
                .map_err(DataPlaneError::Thread)?;
        }
        let mut streams = BTreeMap::new();
        for worker in 0..me {
            let address = &addresses[worker as usize];
            let stream = dial(address, &hello, deadline).map_err(|reason| DataPlaneError::Peer {
                worker,
                address: address.clone(),
                reason,
            })?;
            streams.insert(worker, stream);
        }
        while streams.len() < addresses.len().saturating_sub(1) {
            let left = deadline.saturating_duration_since(Instant::now());
            match accepted.recv_timeout(left) {
                Ok((worker, stream)) => {
                    streams.insert(worker, stream);
                }
                Err(_) => {
                    let missing = expected
                        .iter()
                        .filter(|w| !streams.contains_key(w))
                        .map(|w| format!("{w} at {}", addresses[*w as usize]))
                        .collect();
                    return Err(DataPlaneError::Timeout { missing, timeout });
                }
            }
        }
        let peers = streams
            .into_iter()
            .map(|(worker, stream)| {
                let _ = stream.set_nodelay(true);
                let _ = stream.set_read_timeout(None);
                let (out, out_queue) = unbounded();
                let address = addresses[worker as usize].clone();
                (worker, Peer { address, stream, out, out_queue, receivers: HashMap::new(), credits: HashMap::new() })
            })
            .collect();
        Ok(DataPlane { me, peers, settings })
    }

    /// This worker's index.
    pub fn worker(&self) -> u32 {
        self.me
    }

    fn peer(&mut self, worker: u32, key: ChannelKey) -> Result<&mut Peer, DataPlaneError> {
        self.peers.get_mut(&worker).ok_or(DataPlaneError::Channel { key, worker, what: "no connection" })
    }

    /// The sending end of channel `key`, whose receiving task runs on worker `worker`.
    pub fn sender<T: Data>(&mut self, worker: u32, key: ChannelKey) -> Result<ChannelSender<T>, DataPlaneError> {
        let segment = self.settings.segment_size.max(64);
        let peer = self.peer(worker, key)?;
        let (credit_tx, credits) = unbounded();
        if peer.credits.insert(key, credit_tx).is_some() {
            return Err(DataPlaneError::Channel { key, worker, what: "declared twice" });
        }
        Ok(ChannelSender::from(RemoteSender {
            key,
            credits,
            out: peer.out.clone(),
            segment,
            peer: format!("{worker} at {}", peer.address),
            checked: std::cell::Cell::new(false),
            _type: std::marker::PhantomData,
        }))
    }

    /// The receiving end of channel `key`, whose sending task runs on worker `worker`;
    /// its first credits are granted at once.
    pub fn receiver<T: Data>(&mut self, worker: u32, key: ChannelKey) -> Result<ChannelReceiver<T>, DataPlaneError> {
        let credits = self.settings.buffers_per_channel.max(1);
        let peer = self.peer(worker, key)?;
        let (tx, inbound) = unbounded();
        let wakeup = crate::notifier::Wakeup::new();
        if peer.receivers.insert(key, InboundQueue { tx, wakeup: wakeup.clone() }).is_some() {
            return Err(DataPlaneError::Channel { key, worker, what: "declared twice" });
        }
        let _ = peer.out.send(Frame::Credit { key, credits });
        Ok(ChannelReceiver::from(RemoteReceiver {
            key,
            inbound,
            wakeup,
            out: peer.out.clone(),
            peer: format!("{worker} at {}", peer.address),
            _type: std::marker::PhantomData,
        }))
    }

    /// Starts each connection's reader and writer threads.
    pub fn start(self) -> Result<RunningDataPlane, DataPlaneError> {
        let mut writers = Vec::new();
        let (reader_ended, readers_ended) = unbounded::<()>();
        let readers = self.peers.len();
        let credit_cap = self.settings.buffers_per_channel.max(1);
        for (worker, peer) in self.peers {
            let Peer { address, stream, out, out_queue, receivers, credits } = peer;
            drop(out);
            let name = format!("{worker} at {address}");
            let read = stream.try_clone().map_err(DataPlaneError::Thread)?;
            let (peer_name, ended) = (name.clone(), reader_ended.clone());
            std::thread::Builder::new()
                .name(format!("spate-data-in-{worker}"))
                .spawn(move || {
                    read_frames(read, &peer_name, receivers, credits, credit_cap);
                    let _ = ended.send(());
                })
                .map_err(DataPlaneError::Thread)?;
            let handle = std::thread::Builder::new()
                .name(format!("spate-data-out-{worker}"))
                .spawn(move || write_frames(stream, &name, out_queue))
                .map_err(DataPlaneError::Thread)?;
            writers.push(handle);
        }
        Ok(RunningDataPlane { writers, readers, readers_ended })
    }
}

/// A running data plane. Its writers end once every channel end is dropped.
pub struct RunningDataPlane {
    writers: Vec<JoinHandle<()>>,
    /// How many reader threads run, and where each says it ended.
    readers: usize,
    readers_ended: Receiver<()>,
}

impl RunningDataPlane {
    /// Waits up to `grace` for everything sent to reach the peers (call once the tasks
    /// ended and dropped their channel ends): the writers drain and half-close, then
    /// each peer's close is awaited, so that no credit a peer still sends arrives at a
    /// closed socket (which would reset the connection and drop data in flight).
    pub fn shutdown(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let (done_tx, done) = crossbeam_channel::bounded::<()>(1);
        let writers = self.writers;
        let _ = std::thread::Builder::new().name("spate-data-shutdown".into()).spawn(move || {
            for w in writers {
                let _ = w.join();
            }
            let _ = done_tx.send(());
        });
        if done.recv_deadline(deadline).is_err() {
            tracing::warn!("data connections did not drain within {} s", grace.as_secs());
            return;
        }
        for _ in 0..self.readers {
            if self.readers_ended.recv_deadline(deadline).is_err() {
                tracing::warn!("peers did not close their data connections within {} s", grace.as_secs());
                return;
            }
        }
    }
}

/// Why a dial failed: a refusal is final, anything else is retried until the deadline.
enum DialError {
    Refused(String),
    Failed(String),
}

fn dial(address: &str, hello: &PeerHello, deadline: Instant) -> Result<TcpStream, String> {
    let mut backoff = Duration::from_millis(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
        let socket = address
            .to_socket_addrs()
            .map_err(|e| DialError::Failed(e.to_string()))
            .and_then(|mut all| all.next().ok_or_else(|| DialError::Failed("no address".into())));
        let attempt = socket
            .and_then(|socket| TcpStream::connect_timeout(&socket, left).map_err(|e| DialError::Failed(e.to_string())));
        let attempt = attempt.and_then(|stream| {
            let _ = stream.set_read_timeout(Some(left));
            handshake::dial(&stream, hello).map(|()| stream).map_err(|e| match e {
                PeerHandshakeError::Refused(reason) => DialError::Refused(format!("refused: {reason}")),
                other => DialError::Failed(other.to_string()),
            })
        });
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(DialError::Refused(reason)) => return Err(reason),
            Err(DialError::Failed(reason)) if Instant::now() + backoff >= deadline => return Err(reason),
            Err(DialError::Failed(reason)) => {
                tracing::debug!(address, %reason, "retrying a data connection");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// How long a dialler has to say who it is.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts the workers of `expected` (refusing strangers) and hands each over.
fn accept_peers(
    listener: TcpListener,
    hello: &PeerHello,
    expected: &[u32],
    deadline: Instant,
    accepted: &Sender<(u32, TcpStream)>,
) {
    let mut missing: Vec<u32> = expected.to_vec();
    while !missing.is_empty() && Instant::now() < deadline {
        let (stream, from) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, say: no spinning while it lasts.
                tracing::warn!(%error, "cannot accept a data connection");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // A connection that says nothing (a probe) holds the others up only briefly.
        let left = deadline.saturating_duration_since(Instant::now()).clamp(Duration::from_millis(10), HELLO_TIMEOUT);
        let _ = stream.set_read_timeout(Some(left));
        match handshake::accept(&stream, hello, &missing) {
            Ok(worker) => {
                missing.retain(|w| *w != worker);
                if accepted.send((worker, stream)).is_err() {
                    return;
                }
            }
            Err(error) => tracing::warn!(%from, %error, "refused a data connection"),
        }
    }
}

/// A connection's reader: hands buffers to their channels and credits to their
/// senders. It never waits on a task: a receiver has room for what it granted.
fn read_frames(
    stream: TcpStream,
    peer: &str,
    receivers: HashMap<ChannelKey, InboundQueue>,
    credits: HashMap<ChannelKey, Sender<()>>,
    credit_cap: u32,
) {
    let mut input = BufReader::with_capacity(64 << 10, stream);
    let reason = loop {
        match frame::read(&mut input) {
            Ok(Some(Frame::Data { key, payload })) => match receivers.get(&key) {
                Some(queue) => queue.push(Inbound::Buffer(payload)),
                None => break format!("worker {peer} sent data on channel {key:?}, which this worker does not read"),
            },
            Ok(Some(Frame::Credit { key, credits: n })) if n > credit_cap => {
                break format!("worker {peer} granted {n} credits at once on channel {key:?} (at most {credit_cap})");
            }
            Ok(Some(Frame::Credit { key, credits: n })) => match credits.get(&key) {
                Some(tx) => {
                    for _ in 0..n {
                        let _ = tx.send(());
                    }
                }
                None => {
                    break format!("worker {peer} granted credit on channel {key:?}, which this worker does not send");
                }
            },
            Ok(None) => break format!("worker {peer} closed the connection"),
            Err(error) => break format!("lost the connection to worker {peer}: {error}"),
        }
    };
    tracing::debug!(%reason, "a data connection ended");
    for queue in receivers.values() {
        queue.push(Inbound::Lost(reason.clone()));
    }
    // Dropping the credit senders fails senders waiting for credit.
}

/// A connection's writer: sends frames as they come, flushing when none is waiting.
fn write_frames(stream: TcpStream, peer: &str, queue: Receiver<Frame>) {
    let mut output = BufWriter::with_capacity(64 << 10, &stream);
    let result = (|| -> std::io::Result<()> {
        while let Ok(frame) = queue.recv() {
            frame::write(&mut output, &frame)?;
            while let Ok(frame) = queue.try_recv() {
                frame::write(&mut output, &frame)?;
            }
            output.flush()?;
        }
        output.flush()
    })();
    if let Err(error) = result {
        tracing::warn!(peer, %error, "a data connection failed while writing");
    }
    drop(output);
    let _ = stream.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests;
