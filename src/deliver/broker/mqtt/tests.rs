//! The MQTT publisher's packets, limits and refusals, and its 3.1.1 fallback against a
//! broker of 3.1.1 only.

use super::*;

#[test]
fn packets_frame_and_lengths_round_trip() {
    for n in [0usize, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
        let mut out = vec![0x40];
        put_len(&mut out, n);
        out.resize(out.len() + n.min(2_000_000), 0);
        match frame(&out) {
            Ok(Some((0x40, start, len))) => {
                assert_eq!(len, n);
                assert_eq!(start + len, out.len());
            }
            Ok(_) if n > 1 << 20 => unreachable!(),
            Err(_) => assert!(n > 1 << 20, "{n}"),
            other => panic!("{n}: {other:?}"),
        }
    }
    // Not whole yet.
    assert!(matches!(frame(&[0x40, 2, 0]), Ok(None)));
}

#[test]
fn a_v5_publish_carries_the_id_and_signature_as_user_properties() {
    let m = Message {
        subject: "nas/a".into(),
        id: "42".into(),
        dedup: "nas-1-42".into(),
        headers: vec![
            ("webhook-id".into(), "42".into()),
            ("webhook-signature".into(), "v1,x".into()),
        ],
        body: b"{}".to_vec(),
    };
    let mut out = Vec::new();
    encode_publish(&mut out, &m, 7, true, true);
    assert_eq!(out[0], 0x3a);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("webhook-id").count(), 1, "{text:?}");
    assert!(text.contains("webhook-signature") && text.ends_with("{}"));
    let mut old = Vec::new();
    encode_publish(&mut old, &m, 7, false, false);
    assert_eq!(old[0], 0x32);
    assert!(!String::from_utf8_lossy(&old).contains("webhook-id"));
}

/// A broker of MQTT 3.1.1 only: refuses a version 5 CONNECT with return code 1 and closes,
/// takes a 3.1.1 one, and acknowledges each publish; says what each CONNECT asked for.
fn old_broker() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut versions = Vec::new();
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let Ok(Some((kind, start, len))) = frame(&buffer) else {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    continue;
                };
                let body = buffer[start..start + len].to_vec();
                buffer.drain(..start + len);
                match kind >> 4 {
                    1 => {
                        let version = body[6];
                        versions.push(version);
                        let code = if version == 5 { 1 } else { 0 };
                        stream.write_all(&[0x20, 2, 0, code]).unwrap();
                        if version == 5 {
                            break;
                        }
                    }
                    3 => {
                        // No properties in 3.1.1: the id follows the topic.
                        let topic = usize::from(u16::from_be_bytes([body[0], body[1]]));
                        let id = &body[2 + topic..4 + topic];
                        stream.write_all(&[0x40, 2, id[0], id[1]]).unwrap();
                        return versions;
                    }
                    _ => {}
                }
            }
        }
        versions
    });
    (port, server)
}

#[test]
fn a_broker_of_mqtt_3_1_1_only_is_spoken_to_in_3_1_1() {
    let (port, server) = old_broker();
    let settings = ClientSettings {
        connect_timeout: std::time::Duration::from_secs(5),
        request_timeout: std::time::Duration::from_secs(5),
        policy: crate::core::netpolicy::AddressPolicy::default(),
        ca_file: None,
        credentials: None,
    };
    let link = super::super::Link::new(&format!("mqtt://127.0.0.1:{port}/t"), 1, "nas", &settings)
        .unwrap();
    let result = link
        .publish(vec![Message {
            subject: "t".into(),
            id: "9".into(),
            dedup: "nas-1-9".into(),
            headers: Vec::new(),
            body: b"{}".to_vec(),
        }])
        .pop()
        .unwrap();
    assert_eq!(
        result.outcome,
        Outcome::Acknowledged {
            answer: "PUBACK".into()
        }
    );
    assert_eq!(server.join().unwrap(), [5, 4]);
}

#[test]
fn refusals_name_their_cause() {
    assert_eq!(connack_refusal(0x86, true).0, 67);
    assert!(
        connack_refusal(4, false)
            .1
            .contains("bad user name or password")
    );
    assert!(matches!(puback(0x87), Outcome::Failed { code: 9, .. }));
    assert!(puback(0x10).to_string().contains("no subscribers"));
}

#[test]
fn connack_limits_are_read_past_other_properties() {
    let (port, _server) = old_broker();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut connection = rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&tcp);
        Connection {
            stream: Box::new(tcp),
            v5: true,
            buffer: Vec::new(),
            used: Instant::now(),
            fd,
            quick: false,
            receive_max: u16::MAX,
            max_packet: 268_435_455,
        }
    });
    // Flags, reason, then properties: a reason string, Receive Maximum 10, a user
    // property, Maximum Packet Size 4096.
    let mut props = vec![
        0x1F, 0, 2, b'o', b'k', 0x21, 0, 10, 0x26, 0, 1, b'a', 0, 1, b'b',
    ];
    props.extend_from_slice(&[0x27, 0, 0, 0x10, 0]);
    let mut body = vec![0, 0];
    put_len(&mut body, props.len());
    body.extend_from_slice(&props);
    connack_limits(&body, &mut connection);
    assert_eq!((connection.receive_max, connection.max_packet), (10, 4096));
    // A property not known stops the reading; a cut one is not read.
    connection.receive_max = 7;
    connack_limits(&[0, 0, 3, 0x21, 0], &mut connection);
    assert_eq!(connection.receive_max, 7);
}
