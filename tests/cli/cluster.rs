//! `sub` with two `-L` URLs (an extension of mosquitto_sub's options: several `-L` or `-h` make a list
//! the client fails over through) against two aedes nodes sharing a redis-server: with a persistent
//! session it keeps receiving everything a publisher sends while the node it is on is killed and
//! restarted. Skipped, as tests/cluster is, where node, redis-server or aedes are missing (unless
//! `PAHOISH_REQUIRE_CLUSTER=1`).

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use pahoish::Client;

use crate::common::{client_id, watchdog, Live, TEST_LIMIT, WAIT};
use crate::nodes::Cluster;
use crate::support::our_sub_subscribed;

#[test]
fn sub_with_two_urls_keeps_receiving_while_its_node_is_killed_and_restarted() {
    const N: usize = 300;
    let _dog = watchdog(TEST_LIMIT);
    let Some(mut cluster) = Cluster::start_or_skip(2) else {
        return;
    };
    let id = client_id("sub-two-urls");
    let a = format!("{}/tools/flow", cluster.url(0));
    let b = format!("{}/tools/flow", cluster.url(1));
    // On node 0 first: the list's order.
    let sub = our_sub_subscribed(&["-L", &a, "-L", &b, "-c", "-i", &id, "-q", "1"]);
    // The publisher stays on node 1.
    let publisher = Live::connect(Client::new(&client_id("tools-pub")), cluster.port(1));
    let sender = publisher.client().clone();
    let sending = thread::spawn(move || {
        for i in 0..N {
            let info = sender
                .publish("tools/flow", i.to_string(), 1, false)
                .unwrap();
            info.wait_for_publish(Some(WAIT)).unwrap();
            thread::sleep(Duration::from_millis(5)); // a steady flow, not a burst
        }
        sender.publish("tools/flow", "end", 1, false).unwrap();
    });
    sub.wait_stdout(
        &(N / 4).to_string(),
        "a quarter of the messages through node 0",
    );
    cluster.kill(0);
    sub.wait_stderr(
        "Received CONNACK (1",
        "sub continuing its session on node 1",
    );
    cluster.restart(0);
    sending.join().expect("the publishing thread");
    sub.wait_stdout("end", "the last message");
    let mut sub = sub;
    let _ = sub.child.kill();
    let done = sub.finish(WAIT);
    let text = done.stdout_text();
    let seen: BTreeSet<usize> = text.lines().filter_map(|l| l.parse().ok()).collect();
    let missing: Vec<usize> = (0..N).filter(|i| !seen.contains(i)).collect();
    assert!(missing.is_empty(), "sub missed {missing:?}");
    println!(
        "sub -L node0 -L node1: {N} of {N} received across the kill of node 0 ({} lines with \
         duplicates)",
        text.lines().count() - 1
    );
}
