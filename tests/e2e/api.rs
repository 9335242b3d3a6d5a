//! The management API as a client meets it: ExaVault's error shape, the `//` of ExaVault's
//! documented base URL, and the limit on failed sign-ins.

use crate::support::*;

#[test]
fn refusals_are_in_exavault_shape_and_failed_sign_ins_are_limited() {
    let receiver = Receiver::start();
    let nas = Nas::new();
    nas.write_config(&receiver.url(), "0");
    let daemon = nas.start();
    let base = format!("{}/api/v2/", daemon.web_url());

    // ExaVault's documents end the base URL with a slash: `//account` is `/account`.
    let wrong = [("ev-api-key", "testnas-0000"), ("ev-access-token", "nope")];
    let a = api("GET", &format!("{base}/account"), &wrong, None);
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.body["responseStatus"], 401);
    assert_eq!(a.error_code(), "ERROR_INVALID_CREDENTIALS");
    assert_eq!(a.header("x-ratelimit-limit"), Some("10"));
    assert_eq!(a.header("x-ratelimit-remaining"), Some("9"));

    let a = api("GET", &format!("{base}no/such/route"), &[], None);
    assert_eq!(a.status, 404);
    assert_eq!(a.error_code(), "ERROR_RESOURCE_NOT_FOUND");

    // Nine more failures use up the address's allowance; then it waits, whatever it sends.
    for _ in 0..9 {
        assert_eq!(
            api("GET", &format!("{base}users"), &wrong, None).status,
            401
        );
    }
    let a = api("GET", &format!("{base}users"), &[], None);
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
    let wait: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=7).contains(&wait), "Retry-After: {wait}");
    assert!(daemon.log().contains("failed sign-ins in a row"));
}
