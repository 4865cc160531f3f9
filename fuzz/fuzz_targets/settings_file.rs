//! The settings file (`<state-dir>/settings.json`, read at start):
//! `piclockd::saved_settings::SavedSettings::parse`, the decoding and checks of
//! `SavedSettingsFile::load`, on any bytes.
//!
//! Asserts: settings that load are settings the daemon would accept over
//! D-Bus: pulse settings that validate, an NTP server list that
//! `validate_ntp_servers` accepts (1..=8 entries of the server grammar);
//! what `SavedSettingsFile::save` writes for them loads back equal; a saved
//! time zone is looked up without panicking (an unknown one falls back to
//! the system's zone at start, so it is not refused here).
#![no_main]

use libfuzzer_sys::fuzz_target;
use piclockd::saved_settings::{validate_ntp_servers, SavedSettings};
use piclockd::zone::Zone;

fuzz_target!(|data: &[u8]| {
    match SavedSettings::parse(data) {
        Ok(s) => {
            if let Err(e) = s.pulse.validate() {
                panic!("loaded pulse settings that do not validate: {e}");
            }
            if let Err(e) = validate_ntp_servers(&s.ntp_servers) {
                panic!("loaded an NTP server list the daemon refuses over D-Bus: {e}");
            }
            if let Some(tz) = &s.timezone {
                let _ = Zone::named(tz);
            }
            let saved = serde_json::to_vec_pretty(&s).expect("settings encode");
            assert_eq!(SavedSettings::parse(&saved).map_err(|e| e.to_string()), Ok(s));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
