//! Topic names and filters: validation and Paho's `topic_matches_sub`.

use crate::error::{Error, Result};
use crate::types::{IntoQos, SubscribeOptions};

/// The longest topic or filter MQTT can carry (a two-byte length prefix).
pub(crate) const MAX_TOPIC_LEN: usize = 65_535;

/// Checks a topic name for PUBLISH or a will: not empty, at most 65,535 bytes, no `+` or `#`, no U+0000.
/// The check `publish` and `will_set` make, for code that wants to report a bad topic before it has a
/// client (as the `pub` tool does).
///
/// ```
/// use pahoish::{validate_topic, Error};
/// assert!(validate_topic("sensors/7/temp").is_ok());
/// let Err(Error::InvalidTopic { reason, .. }) = validate_topic("sensors/+") else { panic!() };
/// assert!(reason.contains("wildcards"));
/// assert!(validate_topic("").is_err());
/// ```
pub fn validate_topic(topic: &str) -> Result<()> {
    let reason = if topic.is_empty() {
        "a topic must not be empty"
    } else if topic.len() > MAX_TOPIC_LEN {
        "a topic must be at most 65535 bytes of UTF-8"
    } else if topic.contains(['+', '#']) {
        "a topic to publish to must not contain the wildcards '+' or '#'"
    } else if topic.contains('\0') {
        "a topic must not contain the NUL character"
    } else {
        return Ok(());
    };
    Err(Error::InvalidTopic {
        topic: topic.to_owned(),
        reason,
    })
}

/// What every shared subscription filter starts with (MQTT 5 section 4.8.2; brokers take it from
/// 3.1.1 clients too).
const SHARE_PREFIX: &str = "$share/";

/// The filter inside a shared subscription `$share/{group}/{filter}`, or `None` for another filter.
///
/// ```
/// use pahoish::shared_filter;
/// assert_eq!(shared_filter("$share/workers/jobs/+"), Some("jobs/+"));
/// assert_eq!(shared_filter("jobs/+"), None);
/// ```
pub fn shared_filter(filter: &str) -> Option<&str> {
    filter
        .strip_prefix(SHARE_PREFIX)?
        .split_once('/')
        .map(|(_, f)| f)
}

/// Checks a subscription filter: not empty, at most 65,535 bytes, `+` alone in its level, `#` alone in the
/// last level, no U+0000. The check `subscribe`, `unsubscribe` and `message_callback_add` make.
///
/// A shared subscription, `$share/{group}/{filter}`, needs a group name that is not empty and has no
/// `/`, `+` or `#` ([MQTT-4.8.2-1], [MQTT-4.8.2-2]), and a valid filter after it.
///
/// ```
/// use pahoish::validate_filter;
/// assert!(validate_filter("sensors/+/temp").is_ok());
/// assert!(validate_filter("sensors/#").is_ok());
/// assert!(validate_filter("sensors/#/temp").is_err());
/// assert!(validate_filter("sensors+").is_err());
/// assert!(validate_filter("$share/workers/jobs/+").is_ok());
/// assert!(validate_filter("$share/workers").is_err()); // no filter after the group
/// assert!(validate_filter("$share/w+/jobs").is_err());
/// ```
pub fn validate_filter(filter: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidFilter {
            filter: filter.to_owned(),
            reason,
        })
    };
    if filter.is_empty() {
        return bad("a topic filter must not be empty");
    }
    if filter.len() > MAX_TOPIC_LEN {
        return bad("a topic filter must be at most 65535 bytes of UTF-8");
    }
    if filter.contains('\0') {
        return bad("a topic filter must not contain the NUL character");
    }
    let filter = match filter.strip_prefix(SHARE_PREFIX) {
        Some(rest) => match rest.split_once('/') {
            Some((group, f))
                if !group.is_empty() && !group.contains(['+', '#']) && !f.is_empty() =>
            {
                f
            }
            _ => {
                return bad(
                    "a shared subscription must be \"$share/{group}/{filter}\", with a group \
                     name that is not empty and has no '+' or '#', and a filter after it",
                )
            }
        },
        None => filter,
    };
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('+') && level != "+" {
            return bad("'+' must occupy a whole level of the filter (as in \"a/+/b\")");
        }
        if level.contains('#') {
            if level != "#" {
                return bad("'#' must occupy a whole level of the filter (as in \"a/#\")");
            }
            if levels.peek().is_some() {
                return bad("'#' must be the last level of the filter");
            }
        }
    }
    Ok(())
}

/// Whether the topic `topic` matches the subscription filter `sub`, as Paho's `topic_matches_sub`.
///
/// `+` matches exactly one level and `#` any number of levels (including none: `foo/#` matches `foo`).
/// Wildcards at the first level do not match topics that start with `$` (such as `$SYS/...`). An invalid
/// filter matches nothing.
///
/// A shared subscription `$share/{group}/{filter}` matches what its filter matches: the messages it
/// brings carry the topic they were published on (Paho 2.2 matches nothing here, so a
/// `message_callback_add("$share/...")` callback never runs: paho.mqtt.python #472).
///
/// ```
/// use pahoish::topic_matches_sub;
/// assert!(topic_matches_sub("foo/#", "foo"));
/// assert!(topic_matches_sub("foo/+/baz", "foo/bar/baz"));
/// assert!(topic_matches_sub("#", "/foo/bar"));
/// assert!(!topic_matches_sub("/#", "foo/bar"));
/// assert!(!topic_matches_sub("#", "$SYS/bar"));
/// assert!(topic_matches_sub("$SYS/#", "$SYS/foo/bar"));
/// assert!(topic_matches_sub("$share/workers/jobs/+", "jobs/7"));
/// assert!(!topic_matches_sub("$share/workers/#", "$SYS/foo"));
/// ```
pub fn topic_matches_sub(sub: &str, topic: &str) -> bool {
    if validate_filter(sub).is_err() {
        return false;
    }
    matches_literally(shared_filter(sub).unwrap_or(sub), topic)
}

/// [`topic_matches_sub`] with `$share/...` taken as an ordinary filter (what an MQTT 3.1.1 broker
/// that knows no shared subscriptions does: TestBroker at 3.1.1). `sub` must be valid.
pub(crate) fn matches_literally(sub: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (sub.starts_with('+') || sub.starts_with('#')) {
        return false;
    }
    let mut subs = sub.split('/');
    let mut topics = topic.split('/');
    loop {
        match (subs.next(), topics.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(s), Some(t)) if s == t => {}
            // The first arm also makes "foo/#" match "foo": the topic ended where the filter has "#".
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::QoS;

    #[test]
    fn matching_table_from_paho() {
        let yes = [
            ("foo/bar", "foo/bar"),
            ("foo/+", "foo/bar"),
            ("foo/+/baz", "foo/bar/baz"),
            ("foo/+/#", "foo/bar/baz"),
            ("A/B/+/#", "A/B/B/C"),
            ("#", "foo/bar/baz"),
            ("#", "/foo/bar"),
            ("/#", "/foo/bar"),
            ("$SYS/bar", "$SYS/bar"),
            ("foo/#", "foo"),
            ("foo/#", "foo/"),
            ("foo/+", "foo/"),
            ("+/+", "/"),
            ("$SYS/#", "$SYS/foo/bar"),
            ("#", "foo//bar"),
            ("$SYS/+/Clients", "$SYS/monitor/Clients"),
        ];
        for (sub, topic) in yes {
            assert!(topic_matches_sub(sub, topic), "{sub} should match {topic}");
        }
        let no = [
            ("test/6/#", "test/3"),
            ("foo/bar", "foo"),
            ("foo/+", "foo/bar/baz"),
            ("foo/+/baz", "foo/bar/bar"),
            ("foo/+/#", "fo2/bar/baz"),
            ("/#", "foo/bar"),
            ("#", "$SYS/bar"),
            ("$BOB/bar", "$SYS/bar"),
            ("+/bar", "$SYS/bar"),
            ("+/monitor/Clients", "$SYS/monitor/Clients"),
            ("foo/+", "foo"),
            ("a+/b", "a+/b"),
        ];
        for (sub, topic) in no {
            assert!(
                !topic_matches_sub(sub, topic),
                "{sub} should not match {topic}"
            );
        }
    }

    /// A shared subscription matches what its filter matches (paho.mqtt.python #472), and its group
    /// name is checked as MQTT-4.8.2-1 and -2 ask.
    #[test]
    fn shared_subscriptions() {
        for (sub, topic) in [
            ("$share/g/a/b", "a/b"),
            ("$share/g/a/+", "a/b"),
            ("$share/g/#", "a/b/c"),
            ("$share/g/$SYS/#", "$SYS/x"),
        ] {
            assert!(topic_matches_sub(sub, topic), "{sub} should match {topic}");
        }
        for (sub, topic) in [
            ("$share/g/a/b", "$share/g/a/b"),
            ("$share/g/#", "$SYS/x"),
            ("$share/g/+/b", "$SYS/b"),
            ("$share/g/a/+", "b/c"),
            ("$share/g", "g"),
        ] {
            assert!(
                !topic_matches_sub(sub, topic),
                "{sub} should not match {topic}"
            );
        }
        for bad in [
            "$share/",
            "$share/g",
            "$share/g/",
            "$share//a",
            "$share/g+/a",
            "$share/#/a",
            "$share/g/a/#/b",
        ] {
            assert!(
                matches!(validate_filter(bad), Err(Error::InvalidFilter { .. })),
                "{bad} should be refused"
            );
        }
        assert!(validate_filter("$share/g/a").is_ok());
        assert!(validate_filter("$shared/g/a").is_ok()); // not a shared subscription
        assert_eq!(shared_filter("$share/g/a/#"), Some("a/#"));
        assert_eq!(shared_filter("$share/g"), None);
    }

    #[test]
    fn filters_are_validated() {
        for ok in [
            "a", "a/b", "+", "#", "a/+/b", "a/#", "+/+/#", "/", "$SYS/#", "a//b",
        ] {
            assert!(validate_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a+/b", "a/b#", "#/a", "a/#/b", "a/b+", "++", "a\0b"] {
            assert!(
                matches!(validate_filter(bad), Err(Error::InvalidFilter { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_filter(&"a".repeat(65_536)).is_err());
        assert!(validate_filter(&"a".repeat(65_535)).is_ok());
    }

    fn sub<T: SubscribeTopics>(t: T, qos: QoS) -> Result<Vec<(String, u8)>> {
        Ok(t.into_filters(qos.into())?
            .into_iter()
            .map(|(f, o)| (f, o.qos as u8))
            .collect())
    }

    fn unsub<T: UnsubscribeTopics>(t: T) -> Result<Vec<String>> {
        t.into_filters()
    }

    #[test]
    fn every_subscribe_shape_paho_accepts() {
        let q0 = QoS::AtMostOnce;
        let q1 = QoS::AtLeastOnce;
        let owned = String::from("a");
        let a = |q: u8| vec![("a".to_string(), q)];
        assert_eq!(sub("a", QoS::ExactlyOnce).unwrap(), a(2));
        assert_eq!(sub(owned.clone(), q0).unwrap(), a(0));
        assert_eq!(sub(&owned, q0).unwrap(), a(0));
        assert_eq!(sub(("a", 1), q0).unwrap(), a(1));
        assert_eq!(sub((owned.clone(), q1), q0).unwrap(), a(1));
        let ab: Vec<(String, u8)> = vec![("a".into(), 1), ("b".into(), 1)];
        assert_eq!(sub(["a", "b"], q1).unwrap(), ab);
        assert_eq!(sub(vec!["a", "b"], q1).unwrap(), ab);
        assert_eq!(sub(vec![owned.clone(), "b".into()], q1).unwrap(), ab);
        assert_eq!(sub(&["a", "b"][..], q1).unwrap(), ab);
        assert_eq!(sub([("a", 1), ("b", 1)], q0).unwrap(), ab);
        assert_eq!(sub(vec![("a", 1u8), ("b", 1u8)], q0).unwrap(), ab);
        assert_eq!(sub(&[("a", 1), ("b", 1)][..], q0).unwrap(), ab);
        assert_eq!(
            sub(vec![(owned.clone(), 1), ("b".into(), 1)], q0).unwrap(),
            ab
        );
        assert!(sub(Vec::<(&str, i32)>::new(), q0).is_err());
        assert!(sub([("a", 0), ("b", 3)], q0).is_err());
        assert_eq!(unsub("a").unwrap(), ["a"]);
        assert_eq!(unsub(vec![owned]).unwrap(), ["a"]);
        assert_eq!(unsub(&["a", "b"][..]).unwrap(), ["a", "b"]);
        assert!(unsub(["a", "b+"]).is_err());
    }

    #[test]
    fn topics_are_validated() {
        for ok in ["a", "a/b", "/", "$SYS/x", " "] {
            assert!(validate_topic(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/+", "a/#", "#", "a\0"] {
            assert!(
                matches!(validate_topic(bad), Err(Error::InvalidTopic { .. })),
                "{bad:?}"
            );
        }
        assert!(validate_topic(&"a".repeat(65_536)).is_err());
    }
}

/// What `subscribe` accepts, in every shape Paho does: a filter (`"a/b"`), a `(filter, qos)` or (MQTT
/// 5) `(filter, SubscribeOptions)` pair, or a list (array, slice or `Vec`) of pairs or of filters. Bare
/// filters take the options (or QoS) argument of `subscribe`; pairs carry their own.
///
/// ```
/// use pahoish::{QoS, SubscribeOptions, SubscribeTopics};
/// let at = |q| SubscribeOptions::new(q).unwrap();
/// let f = [("a", 0), ("b/#", 2)].into_filters(at(0))?;
/// assert_eq!(f, vec![("a".to_string(), at(0)), ("b/#".to_string(), at(2))]);
/// let f = vec!["x", "y"].into_filters(at(1))?;
/// assert_eq!(f[1], ("y".to_string(), at(1)));
/// assert!(("a", 5).into_filters(at(0)).is_err());
/// let nl = SubscribeOptions { no_local: true, ..at(1) };
/// assert_eq!(("c", nl).into_filters(at(0))?[0].1, nl);
/// # Ok::<(), pahoish::Error>(())
/// ```
pub trait SubscribeTopics {
    /// The validated `(filter, options)` list, bare filters at `default`; fails for an empty list,
    /// an invalid filter, QoS or Retain Handling.
    fn into_filters(self, default: SubscribeOptions) -> Result<Vec<(String, SubscribeOptions)>>;
}

/// What the second half of a `subscribe` pair may be: a QoS (an integer or [`QoS`](crate::QoS)), or MQTT 5's
/// [`SubscribeOptions`].
pub trait IntoSubscribeOptions {
    /// The options; fails for a QoS other than 0, 1, 2 or a Retain Handling other than 0, 1, 2.
    fn into_options(self) -> Result<SubscribeOptions>;
}

impl<T: IntoQos> IntoSubscribeOptions for T {
    fn into_options(self) -> Result<SubscribeOptions> {
        SubscribeOptions::new(self)
    }
}

impl IntoSubscribeOptions for SubscribeOptions {
    fn into_options(self) -> Result<SubscribeOptions> {
        self.check()?;
        Ok(self)
    }
}

/// What `unsubscribe` accepts: a filter or a list (array, slice or `Vec`) of filters.
///
/// ```
/// use pahoish::UnsubscribeTopics;
/// assert_eq!(["a", "b/#"].into_filters()?, vec!["a".to_string(), "b/#".to_string()]);
/// assert!(Vec::<String>::new().into_filters().is_err());
/// # Ok::<(), pahoish::Error>(())
/// ```
pub trait UnsubscribeTopics {
    /// The validated filter list; fails for an empty list or an invalid filter.
    fn into_filters(self) -> Result<Vec<String>>;
}

fn checked_filter(f: &str) -> Result<String> {
    validate_filter(f)?;
    Ok(f.to_owned())
}

fn non_empty<T>(v: Vec<T>) -> Result<Vec<T>> {
    if v.is_empty() {
        return Err(Error::invalid(
            "topic",
            "the list of topic filters is empty",
        ));
    }
    Ok(v)
}

/// Bare filters, all with `options`.
fn with_options<'a>(
    filters: impl Iterator<Item = &'a str>,
    options: SubscribeOptions,
) -> Result<Vec<(String, SubscribeOptions)>> {
    options.check()?;
    non_empty(
        filters
            .map(|f| Ok((checked_filter(f)?, options)))
            .collect::<Result<_>>()?,
    )
}

/// `(filter, qos or options)` pairs.
fn pairs<'a, Q: IntoSubscribeOptions>(
    filters: impl Iterator<Item = (&'a str, Q)>,
) -> Result<Vec<(String, SubscribeOptions)>> {
    non_empty(
        filters
            .map(|(f, q)| Ok((checked_filter(f)?, q.into_options()?)))
            .collect::<Result<_>>()?,
    )
}

/// Filters for UNSUBSCRIBE.
fn names<'a>(filters: impl Iterator<Item = &'a str>) -> Result<Vec<String>> {
    non_empty(filters.map(checked_filter).collect::<Result<_>>()?)
}

macro_rules! one_filter {
    ($($t:ty),*) => {$(
        impl SubscribeTopics for $t {
            fn into_filters(
                self,
                default: SubscribeOptions,
            ) -> Result<Vec<(String, SubscribeOptions)>> {
                with_options(std::iter::once(self.as_ref()), default)
            }
        }
        impl UnsubscribeTopics for $t {
            fn into_filters(self) -> Result<Vec<String>> {
                names(std::iter::once(self.as_ref()))
            }
        }
        impl<Q: IntoSubscribeOptions> SubscribeTopics for ($t, Q) {
            fn into_filters(self, _: SubscribeOptions) -> Result<Vec<(String, SubscribeOptions)>> {
                pairs(std::iter::once((self.0.as_ref(), self.1)))
            }
        }
    )*};
}
one_filter!(&str, String, &String);

// Lists: `Vec<T>`, `&[T]` and `[T; N]` of filters or of `(filter, qos)` pairs.
macro_rules! many_filters {
    ($(($list:ty $(, $n:ident)?)),*) => {$(
        impl<$(const $n: usize)?> SubscribeTopics for $list {
            fn into_filters(
                self,
                default: SubscribeOptions,
            ) -> Result<Vec<(String, SubscribeOptions)>> {
                with_options(self.iter().map(AsRef::as_ref), default)
            }
        }
        impl<$(const $n: usize)?> UnsubscribeTopics for $list {
            fn into_filters(self) -> Result<Vec<String>> {
                names(self.iter().map(AsRef::as_ref))
            }
        }
    )*};
}
many_filters!(
    (Vec<&str>),
    (Vec<String>),
    (&[&str]),
    (&[String]),
    ([&str; N], N),
    ([String; N], N)
);

macro_rules! many_pairs {
    ($(($list:ty $(, $n:ident)?)),*) => {$(
        impl<Q: IntoSubscribeOptions + Copy $(, const $n: usize)?> SubscribeTopics for $list {
            fn into_filters(self, _: SubscribeOptions) -> Result<Vec<(String, SubscribeOptions)>> {
                pairs(self.iter().map(|(f, q)| (f.as_ref(), *q)))
            }
        }
    )*};
}
many_pairs!(
    (Vec<(&str, Q)>),
    (Vec<(String, Q)>),
    (&[(&str, Q)]),
    (&[(String, Q)]),
    ([(&str, Q); N], N),
    ([(String, Q); N], N)
);
