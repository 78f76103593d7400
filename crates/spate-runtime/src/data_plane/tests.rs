//! The data plane's protocol between two workers of this process, over loopback.

use std::time::{Duration, Instant};

use spate_core::StreamRecord;

use super::*;
use crate::channel::{Event, Received, cancellation};
use crate::event::ControlEvent;

const SETTINGS: DataPlaneSettings = DataPlaneSettings { segment_size: 256, buffers_per_channel: 2 };

fn hello(worker: u32, attempt: u32, token: Option<&str>) -> PeerHello {
    PeerHello {
        protocol: DATA_PROTOCOL_VERSION,
        spate_version: spate_core::launch::VERSION.to_string(),
        job_id: "job".into(),
        attempt,
        worker,
        token: token.map(str::to_string),
    }
}

/// Workers 0..n connected to each other, each from its own thread.
fn connect(hellos: Vec<PeerHello>, timeout: Duration) -> Vec<Result<DataPlane, DataPlaneError>> {
    let listeners: Vec<DataListener> =
        hellos.iter().map(|_| DataListener::bind("127.0.0.1", "127.0.0.1", 0, 0).unwrap()).collect();
    let addresses: Vec<String> = listeners.iter().map(|l| l.address.clone()).collect();
    let threads: Vec<_> = listeners
        .into_iter()
        .zip(hellos)
        .map(|(listener, hello)| {
            let addresses = addresses.clone();
            std::thread::spawn(move || DataPlane::connect(listener, &addresses, hello, SETTINGS, timeout))
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn pair() -> (DataPlane, DataPlane) {
    let mut planes = connect(vec![hello(0, 1, None), hello(1, 1, None)], Duration::from_secs(10)).into_iter();
    (planes.next().unwrap().unwrap(), planes.next().unwrap().unwrap())
}

/// Receives until `n` events arrived or the deadline passed.
fn receive(rx: &ChannelReceiver<(String, u64)>, n: usize) -> Vec<Event<(String, u64)>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        match rx.try_recv() {
            Received::Event(e) => got.push(e),
            Received::Empty => std::thread::yield_now(),
            Received::Disconnected => panic!("disconnected"),
            Received::Failed(e) => panic!("failed: {e}"),
        }
    }
    got
}

fn records(event: &Event<(String, u64)>) -> Vec<(String, u64, i64)> {
    match event {
        Event::Records(batch) => batch.iter().map(|r| (r.value.0.clone(), r.value.1, r.timestamp)).collect(),
        Event::Control(c) => panic!("control {c:?}"),
    }
}

#[test]
fn records_and_control_events_cross_in_order_split_into_segments() {
    let (mut zero, mut one) = pair();
    let key = ChannelKey { edge: 0, from: 1, to: 0 };
    let rx = zero.receiver::<(String, u64)>(1, key).unwrap();
    let tx = one.sender::<(String, u64)>(0, key).unwrap();
    let (_zero, _one) = (zero.start().unwrap(), one.start().unwrap());
    let (_cancel, token) = cancellation();
    let sender = std::thread::spawn(move || {
        // 100 records of ~20 bytes: several 256-byte buffers, each a credit.
        let batch: Vec<_> =
            (0..100u64).map(|i| StreamRecord::with_timestamp((format!("word-{i}"), i), i as i64)).collect();
        tx.send(Event::Records(batch), &token).unwrap();
        tx.send(Event::Control(ControlEvent::Watermark(99)), &token).unwrap();
        tx.send(Event::Control(ControlEvent::EndOfInput), &token).unwrap();
    });
    let mut all = Vec::new();
    let mut controls = Vec::new();
    while controls.len() < 2 {
        for event in receive(&rx, 1) {
            match event {
                Event::Control(c) => controls.push(c),
                records_event => all.extend(records(&records_event)),
            }
        }
    }
    sender.join().unwrap();
    let expected: Vec<_> = (0..100u64).map(|i| (format!("word-{i}"), i, i as i64)).collect();
    assert_eq!(all, expected);
    assert_eq!(controls, vec![ControlEvent::Watermark(99), ControlEvent::EndOfInput]);
}

#[test]
fn a_channel_without_credit_blocks_only_its_sender() {
    let (mut zero, mut one) = pair();
    let stuck = ChannelKey { edge: 0, from: 1, to: 0 };
    let flowing = ChannelKey { edge: 1, from: 1, to: 0 };
    let _stuck_rx = zero.receiver::<(String, u64)>(1, stuck).unwrap();
    let flowing_rx = zero.receiver::<(String, u64)>(1, flowing).unwrap();
    let stuck_tx = one.sender::<(String, u64)>(0, stuck).unwrap();
    let flowing_tx = one.sender::<(String, u64)>(0, flowing).unwrap();
    let (_zero, _one) = (zero.start().unwrap(), one.start().unwrap());
    let (cancel, token) = cancellation();

    // The stuck channel's receiver never reads: after its two credits its sender waits.
    let (sent_tx, sent) = crossbeam_channel::unbounded();
    let stuck_token = token.clone();
    let stuck_sender = std::thread::spawn(move || {
        for i in 0..5u64 {
            let r = stuck_tx.send(Event::Records(vec![StreamRecord::new(("x".repeat(300), i))]), &stuck_token);
            if r.is_err() {
                return r.map(|_| ());
            }
            sent_tx.send(i).unwrap();
        }
        Ok(())
    });
    let first_two: Vec<u64> = (0..2).map(|_| sent.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
    assert_eq!(first_two, vec![0, 1]);

    // The other channel on the same connection keeps flowing, far past any buffer.
    let flowing_sender = std::thread::spawn(move || {
        for i in 0..2000u64 {
            flowing_tx.send(Event::Records(vec![StreamRecord::new((String::from("y"), i))]), &token).unwrap();
        }
    });
    let got: Vec<u64> = receive(&flowing_rx, 2000).iter().flat_map(records).map(|r| r.1).collect();
    assert_eq!(got, (0..2000).collect::<Vec<_>>());
    flowing_sender.join().unwrap();

    // The stuck sender still waits for credit; cancelling wakes it.
    assert!(sent.try_recv().is_err(), "a sender without credit went on");
    cancel.cancel();
    assert!(matches!(stuck_sender.join().unwrap(), Err(crate::TaskError::Cancelled)));
}

#[test]
fn a_broken_connection_fails_both_ends_naming_the_peer() {
    let (mut zero, mut one) = pair();
    let down = ChannelKey { edge: 0, from: 1, to: 0 };
    let up = ChannelKey { edge: 1, from: 0, to: 1 };
    let rx = zero.receiver::<(String, u64)>(1, down).unwrap();
    let tx = zero.sender::<(String, u64)>(1, up).unwrap();
    let _up_rx = one.receiver::<(String, u64)>(0, up).unwrap();
    // Worker 1 goes away: its connection closes without its channels ending.
    let stream = one.peers.get(&0).unwrap().stream.try_clone().unwrap();
    let _zero = zero.start().unwrap();
    stream.shutdown(Shutdown::Both).unwrap();
    drop(one);

    let deadline = Instant::now() + Duration::from_secs(10);
    let error = loop {
        match rx.try_recv() {
            Received::Failed(e) => break e,
            Received::Empty if Instant::now() < deadline => std::thread::yield_now(),
            _ => panic!("expected a failure"),
        }
    };
    assert!(matches!(error, crate::TaskError::Connection(_)), "{error:?}");
    assert!(error.to_string().contains("worker 1 at 127.0.0.1:"), "{error}");
    assert!(error.is_recoverable() && !error.is_consequence());

    // A sender waiting for credit that will never come fails too.
    let (_cancel, token) = cancellation();
    let result = (0..10)
        .try_for_each(|i| tx.send(Event::Records(vec![StreamRecord::new(("z".repeat(300), i))]), &token).map(|_| ()));
    let error = result.unwrap_err();
    assert!(error.to_string().contains("lost the connection to worker 1 at"), "{error}");
}

#[test]
fn strangers_are_refused() {
    // Another attempt of the job.
    let results = connect(vec![hello(0, 1, None), hello(1, 2, None)], Duration::from_millis(500));
    let error = results.into_iter().nth(1).unwrap().err().unwrap().to_string();
    assert!(error.contains("cannot connect to worker 0") && error.contains("attempt 1 of job job"), "{error}");
    // The wrong secret.
    let results = connect(vec![hello(0, 1, Some("secret")), hello(1, 1, Some("guess"))], Duration::from_millis(500));
    let error = results.into_iter().nth(1).unwrap().err().unwrap().to_string();
    assert!(error.contains("security.auth.token"), "{error}");
}

#[test]
fn a_record_type_that_cannot_round_trip_is_named() {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    #[serde(untagged)]
    enum Loose {
        A(u64),
        B(String),
    }
    let (mut zero, mut one) = pair();
    let key = ChannelKey { edge: 0, from: 1, to: 0 };
    let _rx = zero.receiver::<Loose>(1, key).unwrap();
    let tx = one.sender::<Loose>(0, key).unwrap();
    let (_zero, _one) = (zero.start().unwrap(), one.start().unwrap());
    let (_cancel, token) = cancellation();
    let error = tx
        .send(Event::Records(vec![StreamRecord::new(Loose::A(1)), StreamRecord::new(Loose::B("b".into()))]), &token)
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("edge 0"), "{text}");
    assert!(!error.is_recoverable(), "{text}");
    let cause = format!("{:?}", error);
    assert!(cause.contains("Loose") && cause.contains("cannot cross a process boundary"), "{cause}");
}

#[test]
fn a_peer_that_breaks_the_protocol_fails_the_connection_naming_what_it_did() {
    let cases = [
        (
            Frame::Data { key: ChannelKey { edge: 9, from: 9, to: 9 }, payload: vec![0] },
            "which this worker does not read",
        ),
        (Frame::Credit { key: ChannelKey { edge: 1, from: 0, to: 1 }, credits: u32::MAX }, "credits at once"),
    ];
    for (frame, expected) in cases {
        let (mut zero, one) = pair();
        let rx = zero.receiver::<(String, u64)>(1, ChannelKey { edge: 0, from: 1, to: 0 }).unwrap();
        let _tx = zero.sender::<(String, u64)>(1, ChannelKey { edge: 1, from: 0, to: 1 }).unwrap();
        let _zero = zero.start().unwrap();
        // Worker 1 writes a frame of its own making.
        let mut raw = one.peers.get(&0).unwrap().stream.try_clone().unwrap();
        frame::write(&mut raw, &frame).unwrap();
        std::io::Write::flush(&mut raw).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let error = loop {
            match rx.try_recv() {
                Received::Failed(e) => break e.to_string(),
                Received::Empty if Instant::now() < deadline => std::thread::yield_now(),
                Received::Event(_) | Received::Empty | Received::Disconnected => panic!("expected a failure"),
            }
        };
        assert!(error.contains(expected) && error.contains("worker 1 at"), "{error}");
    }
}

#[test]
fn a_task_waiting_on_a_remote_channel_wakes_when_a_buffer_or_the_loss_of_its_peer_arrives() {
    use crate::notifier::TaskNotifier;
    let (mut zero, mut one) = pair();
    let key = ChannelKey { edge: 0, from: 1, to: 0 };
    let rx = zero.receiver::<(String, u64)>(1, key).unwrap();
    let tx = one.sender::<(String, u64)>(0, key).unwrap();
    let (zero, one) = (zero.start().unwrap(), one.start().unwrap());
    let (_cancel, token) = cancellation();
    let (woke_tx, woke) = crossbeam_channel::unbounded();
    let waiter = std::thread::spawn(move || {
        let notifier = TaskNotifier::for_current_thread();
        rx.bind(&notifier);
        // No deadline: only the network thread's wake-ups end these waits.
        for _ in 0..2 {
            while !rx.has_event() {
                notifier.wait(None, || rx.has_event());
            }
            let _ = woke_tx.send(matches!(rx.try_recv(), Received::Event(_)));
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    tx.send(Event::Records(vec![StreamRecord::new(("a".to_string(), 1))]), &token).unwrap();
    assert_eq!(woke.recv_timeout(Duration::from_secs(10)), Ok(true), "woken by the buffer");
    // The peer goes away without ending the channel: the waiting task learns it.
    drop(tx);
    one.shutdown(Duration::from_secs(1));
    assert_eq!(woke.recv_timeout(Duration::from_secs(10)), Ok(false), "woken by the lost connection");
    waiter.join().unwrap();
    drop(zero);
}
