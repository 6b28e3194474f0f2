//! The `-F` formatter itself, included from examples/cli_common/format.rs (its own module, so that
//! dropping these tests is dropping this file).

#[path = "../../examples/cli_common/format.rs"]
mod format;

use std::time::{Duration, UNIX_EPOCH};

use pahoish::Message;

/// 2026-11-22 05:14:40.466783123 UTC, a Sunday, day 326 of the year.
fn moment() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::new(1_795_324_480, 466_783_123)
}

fn render(spec: &str, msg: &Message) -> String {
    let mut out = Vec::new();
    format::Format::parse(spec)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
        .render(msg, moment(), &mut out);
    String::from_utf8(out).unwrap()
}

fn message(topic: &str, payload: &[u8], qos: u8, retain: bool, mid: u16) -> Message {
    let mut m = Message::new(topic, payload, qos, retain);
    m.mid = mid;
    m
}

#[test]
fn format_fields() {
    let m = message("x/r", b"hello", 1, true, 42);
    assert_eq!(render("%t|%p|%q|%r|%m|%l|%%", &m), "x/r|hello|1|1|42|5|%");
    assert_eq!(
        render("%x %X", &message("t", b"\x00\xab", 0, false, 0)),
        "00ab 00AB"
    );
    assert_eq!(
        render(
            "[%10t][%-10t][%.1t][%5.1t][%010l][%-5l][%8p][%4x][%-6q][%2r]",
            &m
        ),
        "[       x/r][x/r       ][x][    x][0000000005][5    ][   hello][6865][1][1]"
    );
    assert_eq!(render("[%3p][%-7p][%06p]", &m), "[hel][hello  ][0hello]");
    assert_eq!(render("[%A][%3C][%03E]%D%P%R", &m), "[][   ][000]");
    assert_eq!(render("%I", &m), "2026-11-22T05:14:40+0000");
    assert_eq!(render("%U", &m), "1795324480.466783123");
    assert_eq!(render("a\\tb\\nc\\\\d\\0e", &m), "a\tb\nc\\d\0e");
}

#[test]
fn format_time_fields_are_strftime_in_utc() {
    let m = message("t", b"p", 0, false, 0);
    assert_eq!(
        render(
            "@a @A @b @B @c|@d @e @F @H @I @j @k @l @m @M @N @p @s @S @T @u @w @y @Y @z @Z @@ @q",
            &m
        ),
        "Sun Sunday Nov November Sun Nov 22 05:14:40 2026|22 22 2026-11-22 05 05 326  5  5 11 14 \
         466783123 AM 1795324480 40 05:14:40 7 0 26 2026 +0000 UTC @ %q"
    );
    // A leap day and the turn of a year.
    let t = |secs| {
        let mut out = Vec::new();
        format::Time::at(secs, 0).strftime('F', &mut out);
        out.push(b' ');
        format::Time::at(secs, 0).strftime('j', &mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(t(951_782_400), "2000-02-29 060");
    assert_eq!(t(1_704_067_199), "2023-12-31 365");
    assert_eq!(t(0), "1970-01-01 001");
}

#[test]
fn format_json() {
    let m = message("a/\"b\"", b"say \"hi\"\n\x01", 1, false, 9);
    assert_eq!(
        render("%j", &m),
        "{\"tst\":\"2026-11-22T05:14:40.466783Z+0000\",\"topic\":\"a/\\\"b\\\"\",\"qos\":1,\"retain\":0,\
         \"payloadlen\":10,\"mid\":9,\"payload\":\"say \\\"hi\\\"\\n\\u0001\"}"
    );
    let binary = message("t", b"\xff\x00", 0, true, 0);
    assert!(render("%j", &binary).ends_with("\"retain\":1,\"payloadlen\":2,\"payload\":[255,0]}"));
}

#[test]
fn format_errors_are_mosquittos() {
    for (spec, err) in [
        ("%", "Error: Incomplete format specifier."),
        ("%-", "Error: Incomplete format specifier."),
        ("%5.", "Error: Incomplete format specifier."),
        ("@", "Error: Incomplete format specifier."),
        ("%z", "Error: Invalid format specifier 'z'."),
        ("\\", "Error: Incomplete escape specifier."),
        ("\\x", "Error: Invalid escape specifier 'x'."),
    ] {
        assert_eq!(format::Format::parse(spec).unwrap_err(), err, "{spec}");
    }
}

#[test]
fn default_verbose_and_no_newline_output() {
    let now = moment();
    let full = message("t/1", b"data", 0, false, 0);
    let empty = message("t/2", b"", 0, false, 0);
    let out = |o: &format::Output, m: &Message| String::from_utf8(o.render(m, now)).unwrap();
    let default = format::Output::default();
    assert_eq!(out(&default, &full), "data\n");
    assert_eq!(out(&default, &empty), "", "an empty payload prints nothing");
    let verbose = format::Output {
        verbose: true,
        ..Default::default()
    };
    assert_eq!(out(&verbose, &full), "t/1 data\n");
    assert_eq!(out(&verbose, &empty), "t/2 (null)\n");
    let no_eol = format::Output {
        verbose: true,
        eol: false,
        ..Default::default()
    };
    assert_eq!(out(&no_eol, &full), "t/1 data");
    assert_eq!(out(&no_eol, &empty), "");
}
