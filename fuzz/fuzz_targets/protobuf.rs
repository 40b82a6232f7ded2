//! Feeds arbitrary bytes to the delimited protobuf decoder; whatever decodes must re-encode
//! and decode again to the same number of families.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_model::protobuf::{decode_families, encode_families, FamilyDecoder};

fuzz_target!(|data: &[u8]| {
    let streamed = FamilyDecoder::new(data).take_while(Result::is_ok).count();
    if let Ok(families) = decode_families(data) {
        assert_eq!(streamed, families.len());
        let mut again = Vec::new();
        encode_families(&families, &mut again);
        match decode_families(&again) {
            Ok(back) => assert_eq!(back.len(), families.len()),
            Err(e) => panic!("re-encoded body does not decode: {e}"),
        }
        let mut text = String::new();
        pharos_model::write::write_text(&families, &mut text);
    }
});
