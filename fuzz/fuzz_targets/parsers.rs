// SPDX-License-Identifier: MPL-2.0
//! The text parsers users type into: `regions` (vqfreeze) and vqinject schedules. Any input parses
//! or is refused with a reason; what parses prints back to the same value.
#![no_main]

use gstvqmon::regions::Regions;
use gstvqmon::vqinject::schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = text.parse::<Regions>() {
        let again: Regions = r.to_string().parse().expect("printed regions parse");
        assert_eq!(again, r);
    }
    if let Err(e) = schedule::parse(text) {
        assert!(!e.0.is_empty());
    }
});
