//! The shipped introspection XML is what the running daemon serves.

use piclock_dbus::{interface_element, BUS_NAME, INTROSPECTION_XML, OBJECT_PATH};
use piclock_testkit::{run, Bus, Daemon};
use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn shipped_introspection_matches_the_daemon() {
    let bus = Bus::start();
    let _d = Daemon::start(&bus, &bus.dir().join("state"), 1.0).await;
    let conn = bus.connect().await;
    let live = zbus::fdo::IntrospectableProxy::builder(&conn)
        .destination(BUS_NAME)
        .unwrap()
        .path(OBJECT_PATH)
        .unwrap()
        .build()
        .await
        .unwrap()
        .introspect()
        .await
        .unwrap();
    let live = interface_element(&live).expect("the daemon serves org.piclock.Clock1");
    let shipped = interface_element(INTROSPECTION_XML).expect("dbus/org.piclock.Clock1.xml has the interface");
    assert_eq!(live, shipped, "dbus/org.piclock.Clock1.xml drifted from the daemon: regenerate it (see its header)");
    // gdbus, a client nobody here wrote, sees the same members.
    let (code, out, err) =
        run(Command::new("gdbus").args(["introspect", "--address", bus.address(), "-d", BUS_NAME, "-o", OBJECT_PATH]));
    assert_eq!(code, 0, "{err}");
    for m in ["SetHandPosition(", "SetNTPServers(", "readonly a{sv} PulseConfig", "SyncFinished("] {
        assert!(out.contains(m), "gdbus introspect lacks {m}:\n{out}");
    }
}
