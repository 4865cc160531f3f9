//! The busctl commands of the book's D-Bus chapter
//! (`docs/src/reference/dbus.md`, "Scripting with busctl"), run verbatim
//! against a simulated daemon on a private bus, so the book cannot drift.
//! (Named `readme.rs` from when the text was in the README.)

use piclock_testkit::{run, Bus, Daemon};
use std::process::Command;

fn readme_commands() -> Vec<String> {
    let chapter = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/reference/dbus.md"))
        .expect("docs/src/reference/dbus.md");
    let section = chapter.split("## Scripting with busctl").nth(1).expect("the busctl section");
    let block = section.split("```sh").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    block.lines().map(str::trim).filter(|l| l.starts_with("busctl ")).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_book_busctl_commands_work() {
    let commands = readme_commands();
    assert!(commands.len() >= 10, "{commands:?}");
    let bus = Bus::start();
    let state = bus.dir().join("state");
    let d = Daemon::start(&bus, &state, 1.0).await;
    let mut outputs = vec![];
    for c in &commands {
        let (code, out, err) = run(Command::new("sh").arg("-c").arg(c).env("DBUS_SESSION_BUS_ADDRESS", bus.address()));
        assert_eq!(code, 0, "{c}\n{err}");
        outputs.push(out);
    }
    let all = outputs.join("\n");
    assert!(all.contains(".SetHandPosition") && all.contains("property"), "introspect output:\n{}", outputs[0]);
    assert_eq!(outputs[1].trim(), "s \"needs-position\"");
    // Paused, then set to 10:08:00 (paused first: a set on a running clock
    // may be followed by a catch-up pulse before the next command arrives),
    // then 5 steps back (fired at the reverse rate,
    // so HandPosition is read while they run).
    let hands: u32 = outputs[5].trim().trim_start_matches("u ").parse().expect("HandPosition");
    assert!((10 * 3600 + 7 * 60 + 55..=10 * 3600 + 8 * 60).contains(&hands), "{hands}");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("virtual-movement.json")).unwrap()).unwrap();
    assert!(json["steps_backward"].as_u64().unwrap() >= 5, "{json}");
    assert_eq!(json["missed_pulses"], 0);
    let get = |prop: &str| {
        run(Command::new("busctl")
            .args(["--user", "get-property", "org.piclock.Clock1", "/org/piclock/Clock1", "org.piclock.Clock1", prop])
            .env("DBUS_SESSION_BUS_ADDRESS", bus.address()))
        .1
    };
    assert_eq!(get("Timezone").trim(), "s \"Europe/Berlin\"");
    assert_eq!(get("NTPServers").trim(), "as 2 \"0.debian.pool.ntp.org\" \"1.debian.pool.ntp.org\"");
    assert_ne!(get("State").trim(), "s \"paused\"");
    drop(d);
    let json = outputs.last().unwrap();
    assert!(json.contains("\"sync_tolerance_s\":{\"type\":\"u\",\"data\":2}"), "{json}");
}
