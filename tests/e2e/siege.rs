//! The web server under attack from clients that need no sign-in: many wrong passwords at
//! once from one address, a guesser at an admin's own address, slowloris sockets, a body sent
//! a byte at a time, and requests for a name the box does not answer to. Clients come from
//! loopback addresses of their own (127.0.0.1 the attacker, 127.0.0.2 everyone else).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::support::*;

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Failed sign-ins an address or a user name may make at once (the daemon's `LIMIT`).
const LIMIT: usize = 10;

/// The daemon's web address, from its log.
fn web_addr(daemon: &Daemon) -> SocketAddr {
    daemon
        .web_url()
        .strip_prefix("http://")
        .expect("plain HTTP on loopback")
        .parse()
        .expect("an address and port")
}

/// A connection to `to` from `source`, a loopback address standing for one client.
fn connect_from(source: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(10))?;
    Ok(socket.into())
}

/// An answer read whole from a connection the server closes after it.
struct Raw {
    status: u16,
    text: String,
}

impl Raw {
    /// The value of the first cookie named `name` the answer sets.
    fn cookie(&self, name: &str) -> Option<String> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or("");
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.trim().split(';').next()?.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_owned())
    }
}

/// One request on a new connection from `source`, read to its end.
fn exchange(source: Ipv4Addr, to: SocketAddr, request: &str) -> std::io::Result<Raw> {
    let mut stream = connect_from(source, to)?;
    stream.set_read_timeout(Some(scaled(Duration::from_secs(30))))?;
    stream.write_all(request.as_bytes())?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    Ok(Raw { status, text })
}

fn get(to: SocketAddr, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n")
}

/// The login form's token, from a `GET /login`.
fn login_nonce(to: SocketAddr) -> String {
    let form = exchange(OTHER, to, &get(to, "/login")).expect("the login form");
    assert_eq!(form.status, 200, "{}", form.text);
    form.cookie("sharehook_login")
        .expect("the login form sets its token's cookie")
}

fn sign_in_request(to: SocketAddr, nonce: &str, user: &str, password: &str) -> String {
    let body = format!("csrf={nonce}&next=%2F&username={user}&password={password}");
    format!(
        "POST /login HTTP/1.1\r\nHost: {to}\r\nCookie: sharehook_login={nonce}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A sign-in's status: 303 (signed in), 401 (checked, wrong), 429 (refused unchecked).
fn sign_in(from: Ipv4Addr, to: SocketAddr, nonce: &str, user: &str, password: &str) -> u16 {
    exchange(from, to, &sign_in_request(to, nonce, user, password))
        .expect("the sign-in is answered")
        .status
}

/// A user made through the command line; its made-up password.
fn user(nas: &Nas, name: &str, role: &str) -> String {
    let out = nas.cli(&["user", "add", name, "--role", role]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("the password on the last line")
        .trim()
        .to_owned()
}

/// A figure of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn started_box() -> (Receiver, Nas, Daemon) {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    let daemon = nas.start();
    (receiver, nas, daemon)
}

#[test]
fn two_hundred_wrong_sign_ins_at_once_check_at_most_the_allowance_in_bounded_memory() {
    let (_receiver, nas, daemon) = started_box();
    let to = web_addr(&daemon);
    let password = user(&nas, "ann", "admin");
    let nonce = login_nonce(to);
    // One right sign-in first: the password code and its memory are in use once, so what
    // follows measures the attack, not the first use.
    assert_eq!(sign_in(ATTACKER, to, &nonce, "ann", &password), 303);
    let pid = daemon.child.id();
    let before = memory_kib(pid, "VmRSS");

    let tries = 200;
    let start = Arc::new(Barrier::new(tries));
    let threads: Vec<_> = (0..tries)
        .map(|n| {
            let (start, nonce) = (Arc::clone(&start), nonce.clone());
            std::thread::spawn(move || {
                let request = sign_in_request(to, &nonce, "ann", &format!("wrong-{n}"));
                start.wait();
                // A connection past the server's share for one address is closed at once:
                // it is sent again until it is answered.
                let deadline = Instant::now() + scaled(Duration::from_secs(120));
                loop {
                    match exchange(ATTACKER, to, &request) {
                        Ok(raw) => return raw.status,
                        Err(e) if Instant::now() > deadline => panic!("never answered: {e}"),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let count = |s| statuses.iter().filter(|&&x| x == s).count();
    let (checked, limited, busy) = (count(401), count(429), count(503));
    let peak = memory_kib(pid, "VmHWM");
    println!(
        "{tries} wrong sign-ins at once: {checked} checked (401), {limited} refused unchecked \
         (429), {busy} refused busy (503); resident memory {} MiB before, peak {} MiB",
        before / 1024,
        peak / 1024
    );
    assert_eq!(checked + limited + busy, tries, "{statuses:?}");
    assert!(
        checked <= LIMIT,
        "{checked} passwords were checked; the allowance is {LIMIT}"
    );
    assert!(checked >= 1, "some tries are checked: {statuses:?}");
    assert!(
        peak.saturating_sub(before) < 64 * 1024,
        "memory grew from {before} KiB to a peak of {peak} KiB"
    );
}

#[test]
fn a_right_credential_from_an_address_being_guessed_from_is_let_in() {
    let (_receiver, nas, daemon) = started_box();
    let to = web_addr(&daemon);
    let ann = user(&nas, "ann", "admin");
    let bobs: Vec<(String, String)> = (0..3)
        .map(|n| {
            let name = format!("bob{n}");
            let password = user(&nas, &name, "admin");
            (name, password)
        })
        .collect();
    let nonce = login_nonce(to);
    // ann has signed in from 127.0.0.1 (an SSH tunnel's address) before.
    assert_eq!(sign_in(ATTACKER, to, &nonce, "ann", &ann), 303);
    // A guesser at the same address spends its allowance on other names (it refills by
    // one every six seconds, so a slow check may let one more through)...
    let mut guessed = Vec::new();
    while guessed.last() != Some(&429) {
        assert!(guessed.len() < 3 * LIMIT, "never limited: {guessed:?}");
        let n = guessed.len();
        guessed.push(sign_in(ATTACKER, to, &nonce, &format!("guess{n}"), "wrong"));
    }
    assert_eq!(guessed[..LIMIT], [401; LIMIT], "{guessed:?}");
    // ...and ann's right password from there is still let in, each time.
    for _ in 0..3 {
        assert_eq!(sign_in(ATTACKER, to, &nonce, "ann", &ann), 303);
    }
    assert_eq!(sign_in(ATTACKER, to, &nonce, "ann", "wrong"), 401);
    // The guesser still waits, and so does a right password for a name that never signed in
    // from there (each tried right after the guesser was refused, before a try refills).
    let mut bob_waited = false;
    for bob in &bobs {
        while sign_in(ATTACKER, to, &nonce, "guess-more", "wrong") != 429 {}
        if sign_in(ATTACKER, to, &nonce, &bob.0, &bob.1) == 429 {
            bob_waited = true;
            break;
        }
    }
    assert!(
        bob_waited,
        "a name new to the address was let in past its allowance"
    );
    // Other addresses are not affected.
    assert_eq!(sign_in(OTHER, to, &nonce, &bobs[0].0, &bobs[0].1), 303);
    // A name given at a failed sign-in reaches the journal only when it is a user's: one
    // typed by mistake may be a password.
    let log = daemon.log();
    assert!(
        log.contains("a sign-in as \"ann\" from 127.0.0.1 failed"),
        "{log}"
    );
    assert!(!log.contains("guess"), "{log}");
}

#[test]
fn slowloris_sockets_from_one_address_leave_the_page_answering_others() {
    let (_receiver, _nas, daemon) = started_box();
    let to = web_addr(&daemon);
    let stop = Arc::new(AtomicBool::new(false));
    // 300 sockets from one address, each sending half a request's head and holding on; each
    // connects again as soon as the server closes it.
    let attackers: Vec<_> = (0..300)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let mut held = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(mut s) = connect_from(ATTACKER, to) else {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        };
                        let _ = s.write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ");
                        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut buf = [0u8; 64];
                        // Held while reads time out; the server closing it ends the hold.
                        while !stop.load(Ordering::Relaxed) {
                            match s.read(&mut buf) {
                                Ok(0) => break,
                                Ok(_) => {}
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) =>
                                {
                                    held += 1
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    held
                })
                .unwrap()
        })
        .collect();
    // Let the flood take what it can.
    std::thread::sleep(Duration::from_secs(2));
    let mut times = Vec::new();
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let t = Instant::now();
        let answer = exchange(OTHER, to, &get(to, "/login"));
        let took = t.elapsed();
        match answer {
            Ok(raw) => assert_eq!(raw.status, 200, "{}", raw.text),
            Err(e) => panic!("the page did not answer 127.0.0.2 under slowloris: {e}"),
        }
        times.push(took);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let held: u64 = attackers.into_iter().map(|t| t.join().unwrap()).sum();
    times.sort();
    let slowest = *times.last().unwrap();
    println!(
        "slowloris: {} answers to another address, median {:?}, slowest {slowest:?} \
         ({held} half-second waits on held sockets)",
        times.len(),
        times[times.len() / 2]
    );
    assert!(held > 0, "the attack held no socket open");
    assert!(
        slowest < scaled(Duration::from_secs(1)),
        "an answer took {slowest:?} under slowloris"
    );
}

#[test]
fn a_body_sent_a_byte_at_a_time_is_cut_off() {
    let (_receiver, nas, daemon) = started_box();
    let to = web_addr(&daemon);
    let who = nas.credentials("ann", "admin");
    let mut s = connect_from(OTHER, to).unwrap();
    let head = format!(
        "POST /api/v2/webhooks HTTP/1.1\r\nHost: {to}\r\nev-api-key: {}\r\nev-access-token: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        who.key, who.token
    );
    s.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    // One byte a second; the server must give up on the body long before it is whole.
    s.set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let mut answer = Vec::new();
    let limit = scaled(Duration::from_secs(35));
    loop {
        assert!(
            started.elapsed() < limit,
            "a body trickled a byte a second still held its connection after {limit:?}"
        );
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {
                if s.write_all(b" ").is_err() {
                    break;
                }
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    println!(
        "a trickled body was cut off after {:?}: {}",
        started.elapsed(),
        answer.lines().next().unwrap_or("(connection closed)")
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
}

#[test]
fn requests_for_a_name_the_box_does_not_answer_to_are_refused() {
    let (_receiver, _nas, daemon) = started_box();
    let to = web_addr(&daemon);
    let ask = |host: &str, path: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        exchange(OTHER, to, &request).unwrap()
    };
    // A page that rebound its own name to the box's address sends that name.
    for path in ["/login", "/metrics", "/inbox", "/api/v2/account"] {
        let raw = ask(&format!("rebind.example:{}", to.port()), path);
        assert_eq!(raw.status, 421, "{path}: {}", raw.text);
    }
    let api = ask("rebind.example", "/api/v2/account");
    assert!(api.text.contains("\"ERROR_INVALID_HOST\""), "{}", api.text);
    assert!(api.text.contains("[web] hosts"), "{}", api.text);
    // Addresses and localhost are answered.
    for host in [to.to_string(), format!("localhost:{}", to.port())] {
        assert_eq!(ask(&host, "/login").status, 200, "{host}");
    }
    let log = daemon.log();
    assert_eq!(
        log.matches("refused a request for the name").count(),
        1,
        "refusals are logged once in a while, not each: {log}"
    );
}
