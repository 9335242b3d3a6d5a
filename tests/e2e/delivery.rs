//! Files changed on a share arrive at a real receiver: exact bodies, valid signatures, in order,
//! and nothing lost across SIGKILL.

use std::time::Duration;

use crate::support::*;

const FAST: &str = "0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5";

fn body(user: &str, op: &str, path: &str, source: &str) -> String {
    format!(
        r#"{{"accountname":"testnas","username":"{user}","operation":"{op}","protocol":"nfs","path":"{path}","sourcepath":"{source}","attempt":1}}"#
    )
}

#[test]
fn each_operation_is_one_webhook_in_order_byte_exact_and_signed() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    let share = nas.share();
    let user = whoami();

    // One step at a time, each waiting for its webhook, so each is checked alone.
    write_file(&share.join("résumé.txt"), "hello");
    receiver.wait_for(1);
    std::fs::create_dir(share.join("docs")).unwrap();
    receiver.wait_for(2);
    std::fs::rename(share.join("résumé.txt"), share.join("cv.txt")).unwrap();
    receiver.wait_for(3);
    std::fs::rename(share.join("cv.txt"), share.join("docs/cv.txt")).unwrap();
    receiver.wait_for(4);
    std::fs::remove_file(share.join("docs/cv.txt")).unwrap();
    receiver.wait_for(5);
    // A last upload marks the end: anything extra before it would show up in the list.
    write_file(&share.join("end"), "");
    let got = receiver.wait_for(6);

    let expected = [
        body(&user, "Upload", r"\/r\u00e9sum\u00e9.txt", ""),
        body(&user, "Create Folder", r"\/docs", ""),
        body(&user, "Rename", r"\/cv.txt", r"\/r\u00e9sum\u00e9.txt"),
        body(&user, "Move", r"\/docs\/cv.txt", r"\/cv.txt"),
        body(&user, "Delete", r"\/docs\/cv.txt", ""),
        body(&user, "Upload", r"\/end", ""),
    ];
    let bodies: Vec<String> = got
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    assert_eq!(bodies, expected);
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook");
        assert_eq!(r.header("content-type"), "application/json");
        assert!(
            r.header("user-agent").starts_with("sharehook/"),
            "{:?}",
            r.headers
        );
        assert_eq!(
            r.header("x-exavault-signature"),
            md5_signature(TOKEN, &r.body)
        );
    }
    let log = daemon.log();
    assert!(
        !log.contains(TOKEN),
        "the token must never be logged:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.starts_with("<6>event ")
                && l.contains(": Upload /résumé.txt in share public")),
        "{log}"
    );
    assert!(daemon.stop().success());
}

#[test]
fn undelivered_events_survive_sigkill_and_arrive_in_order() {
    let port = Receiver::free_port();
    let nas = Nas::new();
    // Plenty of quick retries: the receiver stays down for a while.
    let delays = vec!["0.3"; 400].join(", ");
    nas.write_config(
        &format!("http://127.0.0.1:{port}/hook"),
        &format!("0, {delays}"),
    );
    let daemon = nas.start();
    let names: Vec<String> = (0..200).map(|i| format!("f{i:03}.dat")).collect();
    write_files_in_order(&nas.share(), &names);
    // Every event is committed to the queue (the log says so only after the commit)...
    daemon.wait_log("queued for webhook 1", 200);
    // ...and the first one has failed at least once against the dead receiver.
    daemon.wait_log("connection refused (error 7)", 1);
    daemon.kill9();

    let receiver = Receiver::start_on(port);
    let daemon = nas.start();
    let got = assert_uploads_in_order(&receiver, &names, 1);
    for r in &got {
        assert_eq!(
            r.header("x-exavault-signature"),
            md5_signature(TOKEN, &r.body)
        );
    }
    // The first file failed before the kill: its delivery carries a later attempt number,
    // in the body and so in the signature checked above.
    let first_attempt = got[0].json()["attempt"].as_u64().unwrap();
    assert!(first_attempt >= 2, "attempt {first_attempt}");
    assert!(daemon.stop().success());
}

#[test]
fn an_event_whose_attempts_are_used_up_is_set_aside_and_the_queue_moves_on() {
    let port = Receiver::free_port();
    let nas = Nas::new();
    nas.write_config(&format!("http://127.0.0.1:{port}/hook"), "0, 0.2");
    let daemon = nas.start();
    write_files_in_order(&nas.share(), &["lost.txt".to_owned()]);
    daemon.wait_log("attempt 2: connection refused (error 7)", 1);
    daemon.wait_log(
        "that was the last attempt: the event is set aside as failed",
        1,
    );
    let receiver = Receiver::start_on(port);
    write_files_in_order(&nas.share(), &["next.txt".to_owned()]);
    let got = receiver.wait_for(1);
    assert_eq!(
        ops(&got),
        [("Upload".to_owned(), "/next.txt".to_owned(), String::new())]
    );
    assert_eq!(got[0].json()["attempt"], 1);
    assert!(daemon.stop().success());
    // Set aside is kept, not dropped: after a restart the state still counts it.
    let daemon = nas.start();
    daemon.wait_log("0 queued, 1 failed", 1);
    assert!(daemon.stop().success());
}

#[test]
fn the_service_pings_its_watchdog_and_says_when_it_stops() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    daemon.wait_notify("WATCHDOG=1", 2);
    daemon.signal(libc::SIGTERM);
    daemon.wait_notify("STOPPING=1", 1);
    let log = wait_for("the daemon to log that it stopped", || {
        let log = daemon.log();
        log.contains("<6>stopped").then_some(log)
    });
    assert!(log.contains("<6>SIGTERM: stopping"), "{log}");
    assert!(daemon.stop_status().success());
}

/// Results are recorded in groups (at most 50 ms of them); a kill repeats at most the
/// deliveries of the group in flight: with 40 ms per delivery, two or three.
#[test]
fn a_kill_during_delivery_repeats_at_most_the_last_group() {
    let receiver = Receiver::start();
    receiver.set_delay(Duration::from_millis(40));
    let nas = Nas::new();
    nas.write_config(&receiver.url(), FAST);
    let daemon = nas.start();
    let names: Vec<String> = (0..100).map(|i| format!("g{i:03}")).collect();
    write_files_in_order(&nas.share(), &names);
    daemon.wait_log("queued for webhook 1", 100);
    receiver.wait_for(30);
    daemon.kill9();
    receiver.set_delay(Duration::ZERO);
    let daemon = nas.start();
    assert_uploads_in_order(&receiver, &names, 4);
    assert!(daemon.stop().success());
}
