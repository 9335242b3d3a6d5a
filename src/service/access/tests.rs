//! The tests of `access`.

use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn viewer() -> Caller {
    Caller {
        user: "vic".into(),
        role: Role::Viewer,
        address: "192.0.2.7".into(),
    }
}

#[test]
fn user_names_are_checked() {
    let long = "é".repeat(NAME_MAX);
    let too_long = "é".repeat(NAME_MAX + 1);
    let cases: [(&str, bool); 21] = [
        ("ana", true),
        ("Ana Lopez", true),
        (&long, true),
        ("שרה", true),
        ("", false),
        (&too_long, false),
        ("a\nb", false),
        ("a/b", false),
        // The sign-in form trims what is typed: such users could never sign in.
        (" ", false),
        ("\u{3000}", false),
        (" ana", false),
        ("ana ", false),
        ("ana\u{a0}", false),
        ("\tana", false),
        // Names that read as another on screen.
        ("adm\u{202e}in", false),
        ("\u{2066}ana", false),
        ("ana\u{200f}", false),
        // Names that are paths' steps to a browser; dots among other characters are not.
        (".", false),
        ("..", false),
        ("...", true),
        ("a.b", true),
    ];
    for (name, ok) in cases {
        let got = check_user_name(name);
        assert_eq!(got.is_ok(), ok, "{name:?}: {got:?}");
        if let Err(e) = got {
            assert_eq!(e.kind(), Kind::invalid("name"));
        }
    }
}

#[test]
fn secrets_are_kept_only_as_hashes() {
    let (_dir, store) = store();
    let c = Caller::local();
    access_user(&store, "ana", Role::Admin, "correct horse");
    let key = apikey_add(&store, &c, "nas1", "sync", "").unwrap();
    let (account, random_part) = key.value.rsplit_once('-').unwrap();
    assert_eq!(account, "nas1");
    assert_eq!(random_part.len(), 32);
    assert!(
        random_part
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())
    );
    assert_eq!(key.key.hint, random_part[..4]);
    let token = token_add(&store, &c, &key.key.id.to_string(), "ana").unwrap();
    assert_eq!(token.value.len(), 64);
    assert!(
        token
            .value
            .chars()
            .all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    );

    let user = &store.users().unwrap()[0];
    assert!(user.password.starts_with("$argon2id$"), "{}", user.password);
    assert!(!user.password.contains("correct horse"));
    assert_eq!(store.api_keys().unwrap()[0].hash, sha256(&key.value));
    assert_eq!(store.access_tokens().unwrap()[0].hash, sha256(&token.value));
    let file = std::fs::read(store.path()).unwrap();
    for secret in [
        key.value.as_bytes(),
        token.value.as_bytes(),
        b"correct horse",
    ] {
        assert!(
            !file.windows(secret.len()).any(|w| w == secret),
            "{} is in the state file in clear",
            String::from_utf8_lossy(secret)
        );
    }
}

fn access_user(store: &Store, name: &str, role: Role, password: &str) -> User {
    user_add(store, &Caller::local(), name, role, password).unwrap()
}

#[test]
fn a_key_and_its_token_name_the_user() {
    let (_dir, store) = store();
    let c = Caller::local();
    access_user(&store, "ana", Role::Admin, "pw-ana-long");
    access_user(&store, "vic", Role::Viewer, "pw-vic-long");
    let k1 = apikey_add(&store, &c, "nas", "one", "").unwrap();
    let k2 = apikey_add(&store, &c, "nas", "two", "").unwrap();
    let t_ana = token_add(&store, &c, &k1.value, "ana").unwrap();
    let t_vic = token_add(&store, &c, "1", "vic").unwrap();
    let t_other = token_add(&store, &c, "2", "ana").unwrap();
    let removed = token_add(&store, &c, "1", "ana").unwrap();
    token_remove(&store, &c, removed.token.id).unwrap();

    let who = |key: &str, token: &str| match authenticate(&store, key, token) {
        Ok(caller) => Ok((caller.user, caller.role)),
        Err(AuthError::Invalid) => Err("invalid"),
        Err(AuthError::Store(e)) => panic!("{e}"),
    };
    type Who = Result<(String, Role), &'static str>;
    let cases: [(&str, &str, &str, Who); 8] = [
        (
            "right key and token",
            &k1.value,
            &t_ana.value,
            Ok(("ana".into(), Role::Admin)),
        ),
        (
            "a viewer's token",
            &k1.value,
            &t_vic.value,
            Ok(("vic".into(), Role::Viewer)),
        ),
        ("wrong token", &k1.value, &"0".repeat(64), Err("invalid")),
        (
            "another key's token",
            &k1.value,
            &t_other.value,
            Err("invalid"),
        ),
        ("a removed token", &k1.value, &removed.value, Err("invalid")),
        ("unknown key", "nas-0000", &t_ana.value, Err("invalid")),
        (
            "the key's id, not its value",
            "1",
            &t_ana.value,
            Err("invalid"),
        ),
        ("nothing", "", "", Err("invalid")),
    ];
    for (what, key, token, expected) in cases {
        assert_eq!(who(key, token), expected, "{what}");
    }
    assert_eq!(
        who(&k2.value, &t_other.value),
        Ok(("ana".into(), Role::Admin))
    );

    // Regenerated: the old value is dead at once, the new one works.
    let again = token_regenerate(&store, &c, t_ana.token.id).unwrap();
    assert_ne!(again.value, t_ana.value);
    assert_eq!(who(&k1.value, &t_ana.value), Err("invalid"));
    assert_eq!(
        who(&k1.value, &again.value),
        Ok(("ana".into(), Role::Admin))
    );

    // Removing a key or a user takes its tokens with it.
    apikey_remove(&store, &c, &k2.value).unwrap();
    assert_eq!(who(&k2.value, &t_other.value), Err("invalid"));
    user_remove(&store, &c, "vic").unwrap();
    assert_eq!(who(&k1.value, &t_vic.value), Err("invalid"));
    let left: Vec<u32> = token_list(&store, &c)
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, [again.token.id]);
    let listed = &token_list(&store, &c).unwrap()[0];
    assert_eq!(
        (listed.key_name.as_str(), listed.user.as_str()),
        ("one", "ana")
    );
    assert!(listed.last_used.is_some(), "a use is noted");
}

#[test]
fn passwords_are_checked() {
    let (_dir, store) = store();
    access_user(&store, "ana", Role::Viewer, "s3cret-long");
    let (ok, _) = check_password(&store, "ana", "s3cret-long").unwrap();
    assert_eq!((ok.user.as_str(), ok.role), ("ana", Role::Viewer));
    for (user, password) in [("ana", "S3cret-long"), ("ana", ""), ("bob", "s3cret-long")] {
        assert!(
            matches!(
                check_password(&store, user, password),
                Err(AuthError::Invalid)
            ),
            "{user} {password}"
        );
    }
    user_set_password(&store, &Caller::local(), "ana", "a new one here").unwrap();
    assert!(check_password(&store, "ana", "s3cret-long").is_err());
    assert!(check_password(&store, "ana", "a new one here").is_ok());
}

#[test]
fn an_identity_stands_for_one_user_and_one_password_and_changes_are_told() {
    let (_dir, store) = store();
    let c = Caller::local();
    let mut changes = changes(&store);
    access_user(&store, "ana", Role::Admin, "pw-ana-long");
    access_user(&store, "vic", Role::Viewer, "pw-vic-long");
    assert!(changes.has_changed().unwrap(), "a new user is told");
    changes.borrow_and_update();
    let (_, vic) = check_password(&store, "vic", "pw-vic-long").unwrap();
    let now = |id: &Identity| signed_in(&store, id).unwrap().map(|c| (c.user, c.role));
    assert_eq!(now(&vic), Some(("vic".into(), Role::Viewer)));
    // A new role is read; the identity stays.
    user_set_role(&store, &c, "vic", Role::Admin).unwrap();
    assert!(changes.has_changed().unwrap());
    assert_eq!(now(&vic), Some(("vic".into(), Role::Admin)));
    // A new password, even the same one again, is another identity.
    user_set_password(&store, &c, "vic", "pw-vic-long").unwrap();
    assert_eq!(now(&vic), None);
    let (_, again) = user_set_password_keeping(&store, &c, "vic", "pw-vic-longer").unwrap();
    assert_eq!(
        check_password(&store, "vic", "pw-vic-longer").unwrap().1,
        again
    );
    assert_eq!(now(&again), Some(("vic".into(), Role::Admin)));
    // Removed and added again under the same name: another user.
    user_remove(&store, &c, "vic").unwrap();
    access_user(&store, "vic", Role::Admin, "pw-vic-long");
    assert_eq!(now(&again), None);
}

#[test]
fn the_last_admin_stays() {
    let (_dir, store) = store();
    let c = Caller::local();
    access_user(&store, "ana", Role::Admin, "pw-ana-long");
    access_user(&store, "vic", Role::Viewer, "pw-vic-long");
    let e = user_remove(&store, &c, "ana").unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict, "{e}");
    let e = user_set_role(&store, &c, "ana", Role::Viewer).unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict, "{e}");
    user_set_role(&store, &c, "vic", Role::Admin).unwrap();
    user_remove(&store, &c, "ana").unwrap();
    let names: Vec<String> = user_list(&store, &c)
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["vic"]);
}

#[test]
fn errors_say_their_kind() {
    let (_dir, store) = store();
    let c = Caller::local();
    access_user(&store, "ana", Role::Admin, "pw-ana-long");
    apikey_add(&store, &c, "nas", "app", "").unwrap();
    let v = viewer();
    let cases: Vec<(&str, Result<(), AccessError>, Kind)> = vec![
        (
            "name taken",
            user_add(&store, &c, "ana", Role::Viewer, "pw-ana-long").map(drop),
            Kind::Conflict,
        ),
        (
            "key name taken",
            apikey_add(&store, &c, "nas", "app", "").map(drop),
            Kind::Conflict,
        ),
        (
            "empty password",
            user_add(&store, &c, "bob", Role::Viewer, "").map(drop),
            Kind::invalid("password"),
        ),
        (
            "short password",
            user_add(&store, &c, "bob", Role::Viewer, "123456789").map(drop),
            Kind::invalid("password"),
        ),
        (
            "short new password",
            user_set_password(&store, &c, "ana", "a").map(drop),
            Kind::invalid("password"),
        ),
        (
            "a name of spaces",
            user_add(&store, &c, " ", Role::Viewer, "pw-bob-long").map(drop),
            Kind::invalid("name"),
        ),
        (
            "bad key name",
            apikey_add(&store, &c, "nas", "", "").map(drop),
            Kind::invalid("name"),
        ),
        (
            "bad description",
            apikey_add(&store, &c, "nas", "x", "a\u{7}").map(drop),
            Kind::invalid("description"),
        ),
        (
            "unknown user",
            user_remove(&store, &c, "zed"),
            Kind::NotFound,
        ),
        (
            "unknown key",
            apikey_remove(&store, &c, "9").map(drop),
            Kind::NotFound,
        ),
        (
            "unknown key value",
            token_add(&store, &c, "nas-ffff", "ana").map(drop),
            Kind::NotFound,
        ),
        (
            "unknown token",
            token_regenerate(&store, &c, 9).map(drop),
            Kind::NotFound,
        ),
        (
            "viewer adds",
            user_add(&store, &v, "bob", Role::Admin, "pw-bob-long").map(drop),
            Kind::Forbidden,
        ),
        (
            "viewer lists users",
            user_list(&store, &v).map(drop),
            Kind::Forbidden,
        ),
        (
            "viewer lists keys",
            apikey_list(&store, &v).map(drop),
            Kind::Forbidden,
        ),
        (
            "viewer lists tokens",
            token_list(&store, &v).map(drop),
            Kind::Forbidden,
        ),
        (
            "viewer makes a key",
            apikey_add(&store, &v, "nas", "y", "").map(drop),
            Kind::Forbidden,
        ),
        (
            "viewer makes a token",
            token_add(&store, &v, "1", "ana").map(drop),
            Kind::Forbidden,
        ),
        (
            "viewer sets another's password",
            user_set_password(&store, &v, "ana", "xxxxxxxxxx").map(drop),
            Kind::Forbidden,
        ),
        (
            "bad role",
            "boss".parse::<Role>().map(drop).map_err(AccessError::from),
            Kind::invalid("role"),
        ),
    ];
    for (what, got, kind) in cases {
        match got {
            Ok(()) => panic!("{what}: done"),
            Err(e) => assert_eq!(e.kind(), kind, "{what}: {e}"),
        }
    }
    // A value that is no key is never echoed back.
    let e = apikey_remove(&store, &c, "nas-secretvalue").unwrap_err();
    assert!(!e.to_string().contains("secretvalue"), "{e}");
}

#[test]
fn every_change_is_in_the_audit_trail() {
    let (_dir, store) = store();
    let c = Caller {
        address: "198.51.100.4".into(),
        ..Caller::local()
    };
    user_add(&store, &c, "ana", Role::Admin, "pw-ana-long").unwrap();
    let key = apikey_add(&store, &c, "nas", "app", "").unwrap();
    let token = token_add(&store, &c, "1", "ana").unwrap();
    token_regenerate(&store, &c, 1).unwrap();
    let rows = audit_list(&store, 10).unwrap();
    let what: Vec<&str> = rows.iter().map(|r| r.what.as_str()).collect();
    assert_eq!(
        what,
        [
            "regenerated access token 1",
            "added access token 1 for user \"ana\" with API key 1",
            "added API key 1 \"app\"",
            "added user \"ana\" (admin)",
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.user == "root" && r.address == "198.51.100.4")
    );
    for row in &rows {
        assert!(!row.what.contains(&key.value) && !row.what.contains(&token.value));
    }
}

#[test]
fn a_key_begins_with_the_account_name_made_safe() {
    let cases = [
        ("nas1", "nas1"),
        ("office-nas.local", "office-nas.local"),
        ("Büro NAS", "BroNAS"),
        ("a\r\nb", "ab"),
        ("ö", "sharehook"),
    ];
    for (account, prefix) in cases {
        assert_eq!(key_prefix(account), prefix, "{account:?}");
    }
}

#[test]
fn the_dummy_hash_costs_what_a_real_one_does() {
    let real = hash_password("xxxxxxxxxx").unwrap();
    let params = |phc: &str| phc.rsplitn(3, '$').nth(2).unwrap().to_owned();
    assert_eq!(params(DUMMY_HASH), params(&real));
    assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
}

#[test]
fn generated_passwords_differ_and_are_plain() {
    let a = generate_password().unwrap();
    let b = generate_password().unwrap();
    assert_ne!(a, b);
    assert_eq!(a.len(), 24);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
}
