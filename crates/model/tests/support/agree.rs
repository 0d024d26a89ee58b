//! The lean reading agrees with the full one: [`assert_views_agree`].

use std::io::Cursor;
use std::ops::ControlFlow;

use m365mon_model::{ReadError, ReadItem, Record, RecordReader, RecordShape, SignInView, ViewItem};

/// Reads `input` with the iterator (the full model) and with `for_each_view`: the same items in
/// the same order with the same numbers, positions and errors, and every lean view equal to the
/// view of the record the full model read (a plain Graph sign-in). Returns how many records were
/// read the lean way.
pub fn assert_views_agree(input: &[u8], name: &str) -> usize {
    let full: Vec<Result<ReadItem, ReadError>> = RecordReader::new(Cursor::new(input), name).collect();
    let mut reader = RecordReader::new(Cursor::new(input), name);
    let mut index = 0;
    let mut lean = 0;
    let flow = reader.for_each_view(|item| {
        let expected = full.get(index).unwrap_or_else(|| panic!("{name}: more items than the iterator gives"));
        index += 1;
        match (item, expected) {
            (Err(error), Err(expected)) => assert_eq!(&error, expected, "{name}"),
            (Ok(ViewItem::Full(item)), Ok(expected)) => {
                assert_eq!(item.record, expected.record, "{name} record {}", expected.record_number);
                assert_eq!(item.record_number, expected.record_number, "{name}");
                assert_eq!(item.byte_offset, expected.byte_offset, "{name}");
                assert_eq!(item.tenant_id, expected.tenant_id, "{name}");
            }
            (Ok(ViewItem::SignIn { view, record_number, byte_offset }), Ok(expected)) => {
                lean += 1;
                assert_eq!(record_number, expected.record_number, "{name}");
                assert_eq!(Some(byte_offset), expected.byte_offset, "{name} record {record_number}");
                assert_eq!(expected.shape, RecordShape::Graph, "{name} record {record_number}");
                let Record::SignIn(signin) = &expected.record else {
                    panic!("{name} record {record_number}: lean as a sign-in, in full an audit")
                };
                assert_eq!(view, SignInView::of(signin), "{name} record {record_number}");
            }
            (got, expected) => panic!("{name}: the readers disagree: lean {got:?}, full {expected:?}"),
        }
        ControlFlow::Continue(())
    });
    assert_eq!(flow, ControlFlow::Continue(()));
    assert_eq!(index, full.len(), "{name}: fewer items than the iterator gives");
    lean
}
