//! How `sub` prints a message: the payload alone (the default), `topic payload` (`-v`), or a `-F`
//! format string with mosquitto_sub's `%` fields, `@` time fields and `\` escapes.
//!
//! Times are UTC (mosquitto_sub uses the local time zone); `%z` is `+0000`. Its unit tests below run
//! with `cargo test --example sub`.

use std::time::{SystemTime, UNIX_EPOCH};

use pahoish::{Message, Properties, Property};

/// What `sub` prints for each message.
#[derive(Debug, Clone)]
pub struct Output {
    /// `-F`.
    pub format: Option<Format>,
    /// `-v`: `topic payload`.
    pub verbose: bool,
    /// Cleared by `-N`: no newline after each message.
    pub eol: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            format: None,
            verbose: false,
            eol: true,
        }
    }
}

impl Output {
    /// The bytes to print for `msg`, received at `now`. As mosquitto_sub: without `-v` or `-F` an empty
    /// payload prints nothing at all; with `-v` it prints `topic (null)`.
    pub fn render(&self, msg: &Message, now: SystemTime) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.topic.len() + msg.payload.len() + 2);
        if let Some(format) = &self.format {
            format.render(msg, now, &mut out);
            if self.eol {
                out.push(b'\n');
            }
        } else if self.verbose {
            if !msg.payload.is_empty() {
                out.extend_from_slice(msg.topic.as_bytes());
                out.push(b' ');
                out.extend_from_slice(&msg.payload);
                if self.eol {
                    out.push(b'\n');
                }
            } else if self.eol {
                out.extend_from_slice(msg.topic.as_bytes());
                out.extend_from_slice(b" (null)\n");
            }
        } else if !msg.payload.is_empty() {
            out.extend_from_slice(&msg.payload);
            if self.eol {
                out.push(b'\n');
            }
        }
        out
    }
}

/// One `%` field: the conversion and its flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    conv: char,
    left: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Field(Field),
    /// An `@` field: a strftime conversion character.
    Time(char),
}

/// A parsed `-F` format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pieces: Vec<Piece>,
}

/// The `%` conversions mosquitto_sub knows. The MQTT 5 property ones (`%A %C %D %E %F %P %R %S`) print
/// as mosquitto_sub prints them, and a blank of the field's width (nothing for `%D %P %R`) when the
/// message has no such property, as always on 3.1/3.1.1.
const CONVERSIONS: &str = "%ACDEFIjJlmPpqRSrtUxX";

impl Format {
    /// Parses a format string, with mosquitto_sub's error messages for what it rejects.
    pub fn parse(spec: &str) -> Result<Format, String> {
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        let mut chars = spec.chars().peekable();
        let incomplete = || "Error: Incomplete format specifier.".to_owned();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let mut f = Field {
                        conv: '%',
                        left: false,
                        zero: false,
                        width: 0,
                        precision: None,
                    };
                    if chars.peek() == Some(&'-') {
                        f.left = true;
                        chars.next();
                    }
                    if chars.peek() == Some(&'0') {
                        f.zero = true;
                        chars.next();
                    }
                    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                        f.width = f.width.saturating_mul(10).saturating_add(d as usize);
                        chars.next();
                    }
                    if chars.peek() == Some(&'.') {
                        chars.next();
                        let mut p = 0usize;
                        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                            p = p.saturating_mul(10).saturating_add(d as usize);
                            chars.next();
                        }
                        f.precision = Some(p);
                    }
                    let conv = chars.next().ok_or_else(incomplete)?;
                    if conv == 'J' {
                        return Err(
                            "Error: The %J format specifier (payload parsed as JSON) is not \
                                    supported; %j prints the payload as a JSON string."
                                .into(),
                        );
                    }
                    if !CONVERSIONS.contains(conv) {
                        return Err(format!("Error: Invalid format specifier '{conv}'."));
                    }
                    f.conv = conv;
                    flush(&mut text, &mut pieces);
                    pieces.push(Piece::Field(f));
                }
                '@' => match chars.next().ok_or_else(incomplete)? {
                    '@' => text.push(b'@'),
                    t => {
                        flush(&mut text, &mut pieces);
                        pieces.push(Piece::Time(t));
                    }
                },
                '\\' => {
                    let e = chars
                        .next()
                        .ok_or_else(|| "Error: Incomplete escape specifier.".to_owned())?;
                    text.push(match e {
                        '\\' => b'\\',
                        '0' => 0,
                        'a' => 0x07,
                        'e' => 0x1b,
                        'n' => b'\n',
                        'r' => b'\r',
                        't' => b'\t',
                        'v' => 0x0b,
                        other => return Err(format!("Error: Invalid escape specifier '{other}'.")),
                    });
                }
                other => {
                    let mut buf = [0u8; 4];
                    text.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        flush(&mut text, &mut pieces);
        Ok(Format { pieces })
    }

    /// Appends the formatted message to `out`.
    pub fn render(&self, msg: &Message, now: SystemTime, out: &mut Vec<u8>) {
        let time = Time::from(now);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Time(c) => time.strftime(*c, out),
                Piece::Field(f) => field(f, msg, &time, out),
            }
        }
    }
}

fn flush(text: &mut Vec<u8>, pieces: &mut Vec<Piece>) {
    if !text.is_empty() {
        pieces.push(Piece::Text(std::mem::take(text)));
    }
}

fn field(f: &Field, msg: &Message, time: &Time, out: &mut Vec<u8>) {
    let pad = if f.zero { b'0' } else { b' ' };
    match f.conv {
        '%' => out.push(b'%'),
        't' => string(&msg.topic, f, out),
        'p' => payload(&msg.payload, f, pad, out),
        'x' | 'X' => hex(&msg.payload, f, pad, f.conv == 'X', out),
        'q' => out.push(b'0' + msg.qos),
        'r' => out.push(if msg.retain { b'1' } else { b'0' }),
        'm' => int(u64::from(msg.mid), f, out),
        'l' => int(msg.payload.len() as u64, f, out),
        'I' => string(&time.iso8601(), f, out),
        'U' => out.extend_from_slice(format!("{}.{:09}", time.secs, time.nanos).as_bytes()),
        'j' => json(msg, time, out),
        'A' => number(msg.properties.topic_alias().map(u64::from), f, pad, out),
        'E' => number(
            msg.properties.message_expiry_interval().map(u64::from),
            f,
            pad,
            out,
        ),
        'F' => number(
            msg.properties.payload_format_indicator().map(u64::from),
            f,
            pad,
            out,
        ),
        // The first identifier, as mosquitto_sub prints.
        'S' => number(
            msg.properties
                .subscription_identifiers()
                .next()
                .map(u64::from),
            f,
            pad,
            out,
        ),
        'C' => match msg.properties.content_type() {
            Some(t) => string(t, f, out),
            None => out.extend(std::iter::repeat_n(b' ', f.width)),
        },
        // The bytes as they are, without width or padding.
        'D' => out.extend_from_slice(msg.properties.correlation_data().unwrap_or_default()),
        'R' => {
            if let Some(t) = msg.properties.response_topic() {
                string(t, f, out);
            }
        }
        // `name:value` for each, separated by spaces, without width or padding.
        'P' => {
            for (i, (k, v)) in msg.properties.user_properties().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                out.extend_from_slice(v.as_bytes());
            }
        }
        _ => {}
    }
}

/// A numeric property: printed as `%d` with the field's flags, or a blank of its width (of `0`s with
/// the `0` flag) when absent.
fn number(n: Option<u64>, f: &Field, pad: u8, out: &mut Vec<u8>) {
    match n {
        Some(n) => int(n, f, out),
        None => out.extend(std::iter::repeat_n(pad, f.width)),
    }
}

/// `%s` with printf's width, `-` and precision.
fn string(s: &str, f: &Field, out: &mut Vec<u8>) {
    let s: &str = match f.precision {
        Some(p) => match s.char_indices().nth(p) {
            Some((end, _)) => &s[..end],
            None => s,
        },
        None => s,
    };
    let padding = f.width.saturating_sub(s.chars().count());
    if !f.left {
        out.extend(std::iter::repeat_n(b' ', padding));
    }
    out.extend_from_slice(s.as_bytes());
    if f.left {
        out.extend(std::iter::repeat_n(b' ', padding));
    }
}

/// `%d` with printf's width, `-` and `0`.
fn int(n: u64, f: &Field, out: &mut Vec<u8>) {
    let digits = n.to_string();
    let padding = f.width.saturating_sub(digits.len());
    if f.left {
        out.extend_from_slice(digits.as_bytes());
        out.extend(std::iter::repeat_n(b' ', padding));
    } else {
        let pad = if f.zero { b'0' } else { b' ' };
        out.extend(std::iter::repeat_n(pad, padding));
        out.extend_from_slice(digits.as_bytes());
    }
}

/// The payload, cut to the field width if longer (as mosquitto_sub does), padded to it if shorter.
fn payload(p: &[u8], f: &Field, pad: u8, out: &mut Vec<u8>) {
    let p = if f.width > 0 && p.len() > f.width {
        &p[..f.width]
    } else {
        p
    };
    padded(p, f, pad, out);
}

/// The payload in hex: as many whole bytes as fit the field width (all without one), padded to it.
fn hex(p: &[u8], f: &Field, pad: u8, upper: bool, out: &mut Vec<u8>) {
    let n = if f.width > 0 {
        p.len().min(f.width / 2)
    } else {
        p.len()
    };
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let text: Vec<u8> = p[..n]
        .iter()
        .flat_map(|b| [digits[usize::from(b >> 4)], digits[usize::from(b & 0x0f)]])
        .collect();
    padded(&text, f, pad, out);
}

fn padded(bytes: &[u8], f: &Field, pad: u8, out: &mut Vec<u8>) {
    let padding = f.width.saturating_sub(bytes.len());
    if f.left {
        out.extend_from_slice(bytes);
        out.extend(std::iter::repeat_n(b' ', padding));
    } else {
        out.extend(std::iter::repeat_n(pad, padding));
        out.extend_from_slice(bytes);
    }
}

/// `%j`: the message as one line of JSON, with the fields and order mosquitto_sub prints. A UTF-8
/// payload is a JSON string; any other payload an array of its byte values.
fn json(msg: &Message, time: &Time, out: &mut Vec<u8>) {
    let mut s = String::with_capacity(96 + msg.topic.len() + msg.payload.len());
    s.push_str("{\"tst\":\"");
    s.push_str(&time.json_timestamp());
    s.push_str("\",\"topic\":");
    json_string(&msg.topic, &mut s);
    s.push_str(&format!(
        ",\"qos\":{},\"retain\":{},\"payloadlen\":{}",
        msg.qos,
        u8::from(msg.retain),
        msg.payload.len()
    ));
    if msg.qos > 0 {
        s.push_str(&format!(",\"mid\":{}", msg.mid));
    }
    if !msg.properties.is_empty() {
        json_properties(&msg.properties, &mut s);
    }
    s.push_str(",\"payload\":");
    match std::str::from_utf8(&msg.payload) {
        Ok(text) => json_string(text, &mut s),
        Err(_) => {
            let bytes: Vec<String> = msg.payload.iter().map(u8::to_string).collect();
            s.push('[');
            s.push_str(&bytes.join(","));
            s.push(']');
        }
    }
    s.push('}');
    out.extend_from_slice(s.as_bytes());
}

/// The `"properties"` object mosquitto_sub (built with cJSON, as distributions build it) adds to `%j`
/// on MQTT 5: the message properties under mosquitto's names, the user properties in an object of
/// their own where they first appear. The library keeps properties in identifier order, so that is
/// the order here (mosquitto_sub keeps the order they arrived in, which is the same for a publisher
/// that sends them in identifier order, as pahoish does).
fn json_properties(props: &Properties, s: &mut String) {
    s.push_str(",\"properties\":{");
    let mut first = true;
    let mut users: Option<String> = None;
    let mut sep = |s: &mut String| {
        if !std::mem::take(&mut first) {
            s.push(',');
        }
    };
    for p in props.iter() {
        let (name, value) = match p {
            Property::PayloadFormatIndicator(v) => ("payload-format-indicator", v.to_string()),
            Property::MessageExpiryInterval(v) => ("message-expiry-interval", v.to_string()),
            Property::SubscriptionIdentifier(v) => ("subscription-identifier", v.to_string()),
            Property::TopicAlias(v) => ("topic-alias", v.to_string()),
            Property::ContentType(t) | Property::ResponseTopic(t) => {
                let mut v = String::new();
                json_string(t, &mut v);
                let name = if matches!(p, Property::ContentType(_)) {
                    "content-type"
                } else {
                    "response-topic"
                };
                (name, v)
            }
            Property::CorrelationData(d) => {
                let mut v = String::new();
                json_string(&String::from_utf8_lossy(d), &mut v);
                ("correlation-data", v)
            }
            Property::UserProperty(k, v) => {
                let u = users.get_or_insert_with(String::new);
                if !u.is_empty() {
                    u.push(',');
                }
                json_string(k, u);
                u.push(':');
                json_string(v, u);
                continue;
            }
            _ => continue,
        };
        sep(s);
        s.push_str(&format!("\"{name}\":{value}"));
    }
    if let Some(u) = users {
        // Where mosquitto_sub puts it: at the first user property, which is last in identifier order.
        sep(s);
        s.push_str("\"user-properties\":{");
        s.push_str(&u);
        s.push('}');
    }
    s.push('}');
}

fn json_string(text: &str, s: &mut String) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{08}' => s.push_str("\\b"),
            '\u{0c}' => s.push_str("\\f"),
            c if u32::from(c) < 0x20 => s.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => s.push(c),
        }
    }
    s.push('"');
}

/// A moment broken down in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// Seconds since the Unix epoch.
    pub secs: u64,
    /// Nanoseconds within the second.
    pub nanos: u32,
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Sunday.
    weekday: u32,
    /// 1..=366.
    yearday: u32,
}

impl From<SystemTime> for Time {
    fn from(t: SystemTime) -> Time {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Time::at(d.as_secs(), d.subsec_nanos())
    }
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl Time {
    /// The moment `secs` seconds and `nanos` nanoseconds after the Unix epoch.
    pub fn at(secs: u64, nanos: u32) -> Time {
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Time {
            secs,
            nanos,
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            weekday: (days + 4).rem_euclid(7) as u32, // 1970-01-01 was a Thursday
            yearday: (days - days_from_civil(year, 1, 1) + 1) as u32,
        }
    }

    /// `%I`: ISO 8601, as strftime's `%FT%T%z`.
    pub fn iso8601(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// The `tst` of `%j`, exactly as mosquitto_sub writes it (microseconds, then `Z+0000`).
    fn json_timestamp(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z+0000",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.nanos / 1000
        )
    }

    /// One `@` field: strftime's conversion `c` in the C locale, `@N` the nanoseconds. An unknown
    /// conversion is printed as strftime leaves it, `%` and the character.
    pub fn strftime(&self, c: char, out: &mut Vec<u8>) {
        let hour12 = match self.hour % 12 {
            0 => 12,
            h => h,
        };
        let month = MONTHS[(self.month - 1) as usize];
        let weekday = WEEKDAYS[self.weekday as usize];
        let s = match c {
            'a' => weekday[..3].to_owned(),
            'A' => weekday.to_owned(),
            'b' | 'h' => month[..3].to_owned(),
            'B' => month.to_owned(),
            'c' => format!(
                "{} {} {:>2} {:02}:{:02}:{:02} {}",
                &weekday[..3],
                &month[..3],
                self.day,
                self.hour,
                self.minute,
                self.second,
                self.year
            ),
            'C' => format!("{:02}", self.year / 100),
            'd' => format!("{:02}", self.day),
            'D' => format!("{:02}/{:02}/{:02}", self.month, self.day, self.year % 100),
            'e' => format!("{:>2}", self.day),
            'F' => format!("{:04}-{:02}-{:02}", self.year, self.month, self.day),
            'H' => format!("{:02}", self.hour),
            'I' => format!("{hour12:02}"),
            'j' => format!("{:03}", self.yearday),
            'k' => format!("{:>2}", self.hour),
            'l' => format!("{hour12:>2}"),
            'm' => format!("{:02}", self.month),
            'M' => format!("{:02}", self.minute),
            'n' => "\n".to_owned(),
            'N' => format!("{:09}", self.nanos),
            'p' => if self.hour < 12 { "AM" } else { "PM" }.to_owned(),
            'R' => format!("{:02}:{:02}", self.hour, self.minute),
            's' => self.secs.to_string(),
            'S' => format!("{:02}", self.second),
            't' => "\t".to_owned(),
            'T' => format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second),
            'u' => (if self.weekday == 0 { 7 } else { self.weekday }).to_string(),
            'w' => self.weekday.to_string(),
            'y' => format!("{:02}", self.year % 100),
            'Y' => self.year.to_string(),
            'z' => "+0000".to_owned(),
            'Z' => "UTC".to_owned(),
            '%' => "%".to_owned(),
            other => format!("%{other}"),
        };
        out.extend_from_slice(s.as_bytes());
    }
}

/// (year, month 1..=12, day 1..=31) of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    //! Run by `cargo test --example sub` (and `cargo test --all-features`): the example is built with
    //! `test = true` in Cargo.toml.

    use std::time::Duration;

    use super::*;

    /// 2026-11-22 05:14:40.466783123 UTC, a Sunday, day 326 of the year.
    fn moment() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_795_324_480, 466_783_123)
    }

    fn render(spec: &str, msg: &Message) -> String {
        let mut out = Vec::new();
        Format::parse(spec)
            .unwrap_or_else(|e| panic!("{spec}: {e}"))
            .render(msg, moment(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn format_mqtt5_properties() {
        use pahoish::{PacketTypes, Properties, Property};
        let mut m = message("t", b"p", 0, false, 0);
        m.properties = Properties::new(PacketTypes::PUBLISH)
            .with(Property::UserProperty("k".into(), "v".into()))
            .and_then(|p| p.with(Property::UserProperty("a b".into(), "c:d".into())))
            .and_then(|p| p.with(Property::ContentType("text/plain".into())))
            .and_then(|p| p.with(Property::CorrelationData(b"id-7".to_vec())))
            .and_then(|p| p.with(Property::MessageExpiryInterval(300)))
            .and_then(|p| p.with(Property::PayloadFormatIndicator(1)))
            .and_then(|p| p.with(Property::ResponseTopic("reply/to".into())))
            .and_then(|p| p.with(Property::TopicAlias(3)))
            .and_then(|p| p.with(Property::SubscriptionIdentifier(12)))
            .and_then(|p| p.with(Property::SubscriptionIdentifier(40)))
            .unwrap();
        assert_eq!(
            render("%P|%C|%D|%E|%F|%R|%A|%S", &m),
            "k:v a b:c:d|text/plain|id-7|300|1|reply/to|3|12"
        );
        assert_eq!(
            render("[%12C][%-5E][%05A][%.5R][%3S][%-3F]", &m),
            "[  text/plain][300  ][00003][reply][ 12][1  ]"
        );
        // None of them: blanks of the field width, nothing for %D %P %R.
        let bare = message("t", b"p", 0, false, 0);
        assert_eq!(
            render("[%P][%D][%R][%3C][%2E][%02F][%A][%S]", &bare),
            "[][][][   ][  ][00][][]"
        );
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
            Time::at(secs, 0).strftime('F', &mut out);
            out.push(b' ');
            Time::at(secs, 0).strftime('j', &mut out);
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
        let mut m = message("t", b"x", 0, false, 0);
        m.properties = pahoish::Properties::new(pahoish::PacketTypes::PUBLISH)
            .with(Property::UserProperty("k".into(), "v".into()))
            .and_then(|p| p.with(Property::UserProperty("k2".into(), "\"".into())))
            .and_then(|p| p.with(Property::ContentType("ct".into())))
            .and_then(|p| p.with(Property::MessageExpiryInterval(60)))
            .unwrap();
        assert!(
            render("%j", &m).ends_with(
                "\"payloadlen\":1,\"properties\":{\"message-expiry-interval\":60,\"content-type\":\"ct\",\
                 \"user-properties\":{\"k\":\"v\",\"k2\":\"\\\"\"}},\"payload\":\"x\"}"
            ),
            "{}",
            render("%j", &m)
        );
        let binary = message("t", b"\xff\x00", 0, true, 0);
        assert!(
            render("%j", &binary).ends_with("\"retain\":1,\"payloadlen\":2,\"payload\":[255,0]}")
        );
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
            assert_eq!(Format::parse(spec).unwrap_err(), err, "{spec}");
        }
    }

    #[test]
    fn default_verbose_and_no_newline_output() {
        let now = moment();
        let full = message("t/1", b"data", 0, false, 0);
        let empty = message("t/2", b"", 0, false, 0);
        let out = |o: &Output, m: &Message| String::from_utf8(o.render(m, now)).unwrap();
        let default = Output::default();
        assert_eq!(out(&default, &full), "data\n");
        assert_eq!(out(&default, &empty), "", "an empty payload prints nothing");
        let verbose = Output {
            verbose: true,
            ..Default::default()
        };
        assert_eq!(out(&verbose, &full), "t/1 data\n");
        assert_eq!(out(&verbose, &empty), "t/2 (null)\n");
        let no_eol = Output {
            verbose: true,
            eol: false,
            ..Default::default()
        };
        assert_eq!(out(&no_eol, &full), "t/1 data");
        assert_eq!(out(&no_eol, &empty), "");
    }
}
