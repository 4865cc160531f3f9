//! The DS3231 as read at start (the time the clock starts from when NTP is
//! not there yet): `piclockd::devices::rtc::Rtc::read_utc_us` over a chip
//! whose registers hold any bytes (a chip that lost power, a different
//! device at 0x68, a flaky bus).
//!
//! Input: the 19 registers 0x00..=0x12 (missing ones read 0), then one
//! flags byte (bit 0: every transfer fails).
//!
//! Asserts: a read never panics; a time is reported only in the years
//! 2000..=2099 that `Rtc` sets (registers outside them hold no time the
//! daemon wrote: non-BCD digits, or a century it never sets), and it is the
//! middle of a second; the oscillator-stop flag reported is bit 7 of the status
//! register 0x0F; an error names the operation.
#![no_main]

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation, SevenBitAddress};
use libfuzzer_sys::fuzz_target;
use piclockd::devices::rtc::{Rtc, RTC_END_US, RTC_MIN_US};

const REGS: usize = 0x13;

/// A DS3231-like register file at 0x68 holding arbitrary bytes.
struct Chip {
    regs: [u8; REGS],
    latch: usize,
    failing: bool,
}

impl ErrorType for Chip {
    type Error = ErrorKind;
}

impl I2c<SevenBitAddress> for Chip {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), ErrorKind> {
        if self.failing || address != 0x68 {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations {
            match op {
                Operation::Write(bytes) => {
                    if let Some((&reg, rest)) = bytes.split_first() {
                        self.latch = usize::from(reg) % REGS;
                        for &b in rest {
                            self.regs[self.latch] = b;
                            self.latch = (self.latch + 1) % REGS;
                        }
                    }
                }
                Operation::Read(buf) => {
                    for b in buf.iter_mut() {
                        *b = self.regs[self.latch];
                        self.latch = (self.latch + 1) % REGS;
                    }
                }
            }
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut regs = [0u8; REGS];
    let n = data.len().min(REGS);
    regs[..n].copy_from_slice(&data[..n]);
    let failing = data.get(REGS).is_some_and(|f| f & 1 != 0);
    let mut rtc = Rtc::new(Chip { regs, latch: 0, failing });
    match rtc.read_utc_us() {
        Ok(r) => {
            assert!(!failing);
            assert!((RTC_MIN_US..RTC_END_US).contains(&r.time_us), "time {} µs from registers {regs:02x?}", r.time_us);
            assert_eq!(r.time_us.rem_euclid(1_000_000), 500_000);
            assert_eq!(r.oscillator_stopped, regs[0x0f] & 0x80 != 0);
        }
        Err(e) => assert!(!e.operation.is_empty() && !e.detail.is_empty()),
    }
});
