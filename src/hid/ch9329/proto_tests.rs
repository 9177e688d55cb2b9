//! Byte vectors for `proto`: every request frame, the parameter block's baud field, and
//! replies good and bad. Expected checksums were worked out by hand from the frame rule.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

/// The factory-like block the vectors use: baud 9600 at bytes 3..7, VID/PID 1a86:e129.
fn block_9600() -> [u8; CONFIG_LEN] {
    let mut b = [0u8; CONFIG_LEN];
    b[..15].copy_from_slice(&hex("80 80 00 00 00 25 80 08 00 00 03 86 1A 29 E1"));
    b
}

fn parse(want: Cmd, bytes: &[u8]) -> Option<Result<Reply, ProtoError>> {
    let mut p = ReplyParser::default();
    p.push(bytes);
    p.next(want)
}

// ===== requests =====

#[test]
fn commands_without_data() {
    assert_eq!(get_info(), hex("57 AB 00 01 00 03"));
    assert_eq!(reset(), hex("57 AB 00 0F 00 11"));
    assert_eq!(get_para_cfg(), hex("57 AB 00 08 00 0A"));
}

#[test]
fn checksum_is_the_low_byte_of_the_sum() {
    assert_eq!(checksum(&[]), 0);
    assert_eq!(checksum(&hex("57 AB 00 01 00")), 0x03);
    assert_eq!(checksum(&[0xFF, 0xFF, 0x02]), 0x00);
}

#[test]
fn keyboard_frames_carry_the_boot_report() {
    // The facts file's release example.
    assert_eq!(
        keyboard(&[0; 8]),
        hex("57 AB 00 02 08 00 00 00 00 00 00 00 00 0C")
    );
    assert_eq!(
        report(&HidReport::Keyboard([0x02, 0, 0x04, 0, 0, 0, 0, 0])),
        hex("57 AB 00 02 08 02 00 04 00 00 00 00 00 12")
    );
}

#[test]
fn media_frames() {
    assert_eq!(media([0, 0, 0]), hex("57 AB 00 03 04 02 00 00 00 0B"));
    assert_eq!(media([0xE9, 0, 0]), hex("57 AB 00 03 04 02 E9 00 00 F4"));
}

#[test]
fn absolute_mouse_scales_to_4096_steps_and_drops_pan() {
    // Buttons 1, X 32767 → 4095, Y 16384 → 2048, wheel -1, pan 3 (dropped).
    assert_eq!(
        report(&HidReport::MouseAbs([
            1, 0xFF, 0x7F, 0x00, 0x40, 0xFF, 0x03
        ])),
        hex("57 AB 00 04 07 02 01 FF 0F 00 08 FF 25")
    );
    assert_eq!(
        mouse_abs(&[0; 7]),
        hex("57 AB 00 04 07 02 00 00 00 00 00 00 0F")
    );
    assert_eq!(to_chip_axis(0), 0);
    assert_eq!(to_chip_axis(32767), 4095);
    assert_eq!(to_chip_axis(16383), 2047);
    assert_eq!(to_chip_axis(u16::MAX), 4095, "out of range clamps");
}

#[test]
fn relative_mouse_frames() {
    // Buttons 2, dx -3, dy 5, wheel 1, pan -1 (dropped).
    assert_eq!(
        report(&HidReport::MouseRel([2, 0xFD, 5, 1, 0xFF])),
        hex("57 AB 00 05 05 01 02 FD 05 01 12")
    );
}

#[test]
fn set_para_cfg_changes_only_the_baud_bytes() {
    let cfg = ParaCfg(block_9600());
    assert_eq!(cfg.baud(), 9600);
    let fast = cfg.with_baud(115_200);
    assert_eq!(fast.baud(), 115_200);
    assert_eq!(&fast.0[3..7], &[0x00, 0x01, 0xC2, 0x00]);
    for (i, (a, b)) in cfg.0.iter().zip(fast.0.iter()).enumerate() {
        if !(3..7).contains(&i) {
            assert_eq!(a, b, "byte {i} untouched");
        }
    }
    let mut want = hex("57 AB 00 09 32 80 80 00 00 00 25 80 08 00 00 03 86 1A 29 E1");
    want.extend([0u8; 35]);
    want.push(0x97);
    assert_eq!(set_para_cfg(&cfg), want);
    let frame = set_para_cfg(&fast);
    assert_eq!(
        &frame[5..20],
        &hex("80 80 00 00 01 C2 00 08 00 00 03 86 1A 29 E1")
    );
    assert_eq!(frame.last(), Some(&0xB5));
}

#[test]
fn cmd_of_reads_the_command_byte() {
    assert_eq!(cmd_of(&get_info()), Some(Cmd::GetInfo));
    assert_eq!(cmd_of(&mouse_rel(&[0; 5])), Some(Cmd::MouseRel));
    assert_eq!(cmd_of(&[0x57, 0xAB, 0x00]), None);
    assert_eq!(cmd_of(&hex("57 AB 00 77 00 79")), None);
}

// ===== replies =====

#[test]
fn get_info_reply_carries_version_enumeration_and_leds() {
    let r = parse(
        Cmd::GetInfo,
        &hex("57 AB 00 81 08 30 01 02 00 00 00 00 00 BE"),
    );
    let info = Info {
        version: 0x30,
        enumerated: true,
        leds: Leds {
            caps: true,
            num: false,
            scroll: false,
        },
    };
    assert_eq!(r, Some(Ok(Reply::Info(info))));
    assert_eq!(info.version_string(), "V3.0");
    // Num + Scroll, not enumerated.
    let mut f = hex("57 AB 00 81 08 31 00 05 00 00 00 00 00");
    f.push(checksum(&f));
    let Some(Ok(Reply::Info(i))) = parse(Cmd::GetInfo, &f) else {
        panic!("info parses");
    };
    assert!(!i.enumerated);
    assert_eq!(
        i.leds,
        Leds {
            caps: false,
            num: true,
            scroll: true
        }
    );
}

#[test]
fn status_replies_for_every_command_that_has_one() {
    let cases = [
        (Cmd::Keyboard, "57 AB 00 82 01 00 85"),
        (Cmd::MouseAbs, "57 AB 00 84 01 00 87"),
        (Cmd::MouseRel, "57 AB 00 85 01 00 88"),
        (Cmd::Reset, "57 AB 00 8F 01 00 92"),
    ];
    for (cmd, bytes) in cases {
        assert_eq!(
            parse(cmd, &hex(bytes)),
            Some(Ok(Reply::Done(cmd))),
            "{bytes}"
        );
    }
    for cmd in [Cmd::Media, Cmd::SetParaCfg] {
        let mut f = vec![0x57, 0xAB, 0x00, cmd as u8 | 0x80, 0x01, 0x00];
        f.push(checksum(&f));
        assert_eq!(parse(cmd, &f), Some(Ok(Reply::Done(cmd))));
    }
}

#[test]
fn get_para_cfg_reply_is_the_block() {
    let mut f = hex("57 AB 00 88 32");
    f.extend(block_9600());
    f.push(0x16);
    assert_eq!(
        parse(Cmd::GetParaCfg, &f),
        Some(Ok(Reply::Config(ParaCfg(block_9600()))))
    );
}

#[test]
fn error_replies_name_the_status() {
    assert_eq!(
        parse(Cmd::Keyboard, &hex("57 AB 00 C2 01 E4 A9")),
        Some(Err(ProtoError::Chip {
            cmd: Cmd::Keyboard,
            status: Status::BadChecksum
        }))
    );
    let names = [
        (0xE1, Status::Timeout, "0xE1 timeout"),
        (0xE2, Status::BadHeader, "0xE2 bad header"),
        (0xE3, Status::BadCommand, "0xE3 bad command"),
        (0xE4, Status::BadChecksum, "0xE4 bad checksum"),
        (0xE5, Status::BadParameter, "0xE5 bad parameter"),
        (0xE6, Status::Failed, "0xE6 operation failed"),
        (0x42, Status::Other(0x42), "0x42 unknown status"),
    ];
    for (byte, status, text) in names {
        let mut f = vec![0x57, 0xAB, 0x00, 0xC4, 0x01, byte];
        f.push(checksum(&f));
        let e = parse(Cmd::MouseAbs, &f).unwrap().unwrap_err();
        assert_eq!(
            e,
            ProtoError::Chip {
                cmd: Cmd::MouseAbs,
                status
            }
        );
        assert_eq!(
            e.to_string(),
            format!("ch9329: mouse_abs refused: status {text}")
        );
    }
    // A non-zero status in an ok reply is an error too.
    let mut f = hex("57 AB 00 8F 01 E6");
    f.push(checksum(&f));
    assert!(matches!(
        parse(Cmd::Reset, &f),
        Some(Err(ProtoError::Chip {
            status: Status::Failed,
            ..
        }))
    ));
}

#[test]
fn short_replies_wait_for_more_bytes() {
    let full = hex("57 AB 00 82 01 00 85");
    let mut p = ReplyParser::default();
    for (i, b) in full.iter().enumerate() {
        let got = p.next(Cmd::Keyboard);
        assert_eq!(got, None, "after {i} bytes");
        p.push(&[*b]);
    }
    assert_eq!(p.next(Cmd::Keyboard), Some(Ok(Reply::Done(Cmd::Keyboard))));
    assert_eq!(p.next(Cmd::Keyboard), None, "nothing left");
}

#[test]
fn junk_before_a_header_is_skipped_and_counted() {
    let mut p = ReplyParser::default();
    p.push(&hex("00 FF 57 12 57"));
    assert_eq!(p.next(Cmd::Keyboard), None);
    assert_eq!(p.skipped(), 4, "the trailing 57 may start a header");
    p.push(&hex("AB 00 82 01 00 85"));
    assert_eq!(p.next(Cmd::Keyboard), Some(Ok(Reply::Done(Cmd::Keyboard))));
    p.clear();
    assert_eq!(p.skipped(), 0);
    p.push(&hex("DE AD BE EF"));
    assert_eq!(p.next(Cmd::Keyboard), None);
    assert_eq!(p.skipped(), 4);
}

#[test]
fn bad_checksum_is_rejected_and_the_parser_resyncs() {
    let mut p = ReplyParser::default();
    p.push(&hex("57 AB 00 82 01 00 86"));
    assert_eq!(
        p.next(Cmd::Keyboard),
        Some(Err(ProtoError::BadChecksum {
            want: 0x85,
            got: 0x86
        }))
    );
    assert_eq!(p.next(Cmd::Keyboard), None);
    // A bogus header inside noise followed by a good frame: the good frame is found.
    let mut p = ReplyParser::default();
    p.push(&hex("57 AB 57 AB 00 82 01 00 85"));
    assert!(matches!(
        p.next(Cmd::Keyboard),
        Some(Err(ProtoError::BadLength { .. })) | Some(Err(ProtoError::BadChecksum { .. }))
    ));
    let mut last = None;
    while let Some(r) = p.next(Cmd::Keyboard) {
        last = Some(r);
    }
    assert_eq!(last, Some(Ok(Reply::Done(Cmd::Keyboard))));
}

#[test]
fn impossible_or_wrong_lengths_are_rejected() {
    // LEN 0x41 > 64.
    assert!(matches!(
        parse(Cmd::Keyboard, &hex("57 AB 00 82 41")),
        Some(Err(ProtoError::BadLength { len: 0x41, .. }))
    ));
    // GET_INFO must carry 8 bytes.
    let mut f = hex("57 AB 00 81 01 00");
    f.push(checksum(&f));
    assert_eq!(
        parse(Cmd::GetInfo, &f),
        Some(Err(ProtoError::BadLength {
            cmd: 0x81,
            len: 1,
            want: 8
        }))
    );
    // A status reply without its status byte.
    assert_eq!(
        parse(Cmd::Reset, &hex("57 AB 00 8F 00 91")),
        Some(Err(ProtoError::BadLength {
            cmd: 0x8F,
            len: 0,
            want: 1
        }))
    );
}

#[test]
fn replies_to_other_commands_or_addresses_are_rejected() {
    assert_eq!(
        parse(Cmd::MouseAbs, &hex("57 AB 00 82 01 00 85")),
        Some(Err(ProtoError::UnexpectedCmd {
            want: Cmd::MouseAbs,
            got: 0x82
        }))
    );
    // An echo of our own request is not a reply.
    assert!(matches!(
        parse(Cmd::GetInfo, &get_info()),
        Some(Err(ProtoError::UnexpectedCmd { got: 0x01, .. }))
    ));
    let mut f = hex("57 AB 01 82 01 00");
    f.push(checksum(&f));
    assert_eq!(
        parse(Cmd::Keyboard, &f),
        Some(Err(ProtoError::BadAddress(0x01)))
    );
}

#[test]
fn error_messages_are_readable() {
    let e = ProtoError::UnexpectedCmd {
        want: Cmd::MouseAbs,
        got: 0x82,
    };
    assert_eq!(
        e.to_string(),
        "ch9329: reply 0x82 to mouse_abs (expected 0x84)"
    );
    let e = ProtoError::BadChecksum {
        want: 0x85,
        got: 0x86,
    };
    assert_eq!(e.to_string(), "ch9329: reply checksum 0x86, expected 0x85");
}
