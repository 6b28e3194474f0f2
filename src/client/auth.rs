//! MQTT 5 enhanced authentication (not in Paho): `auth_method_set`, `on_auth` and `reauthenticate`.
//!
//! The session checks the exchange (the method on every AUTH and on the CONNACK, nothing but AUTH
//! before the CONNACK); the engine turns each step into `Notice::Auth`, which runs `on_auth` here and
//! hands its answer back.

use super::callbacks::slot;
use super::Client;
use crate::error::{Error, Result};
use crate::properties::Properties;
use crate::reason::ReasonCode;
use crate::types::{check_mqtt_string, Protocol};

/// What `on_auth` answers: the data for the next AUTH, or the reason to end the exchange with.
pub(super) type AuthAnswer = std::result::Result<Vec<u8>, ReasonCode>;

impl<U: Send + 'static> Client<U> {
    /// MQTT 5 enhanced authentication (not in Paho): the next CONNECTs carry this Authentication
    /// Method and, when `initial_data` is given and not empty, this Authentication Data. The server
    /// may then answer with challenges (AUTH, reason Continue authentication), which
    /// [`on_auth`](Client::on_auth) answers, before its CONNACK. `None` as the method stops sending
    /// one.
    ///
    /// While the exchange runs, nothing but AUTH (and DISCONNECT) goes out ([MQTT-3.1.2-30]):
    /// `subscribe` and `unsubscribe` made meanwhile are sent once the CONNACK is in, QoS 1/2
    /// publishes wait in the queue as always before a CONNACK, QoS 0 ones are refused as when
    /// disconnected. Every AUTH and the successful CONNACK must carry the same method
    /// ([MQTT-4.12.0-5]); one that does not ends the connection with DISCONNECT 0x82, Protocol
    /// error.
    ///
    /// The initial data goes with every (re)connection; a mechanism that needs fresh data each time
    /// (a new nonce) calls this again from [`on_pre_connect`](Client::on_pre_connect). This takes
    /// the place of an `AuthenticationMethod` in [`connect_with`](Client::connect_with)'s
    /// properties, which also works.
    ///
    /// Fails on MQTT 3.1/3.1.1, which have no enhanced authentication, and for a method that is not
    /// a valid MQTT string or data over 65,535 bytes.
    ///
    /// ```
    /// use pahoish::{Client, MQTTv5};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// client.auth_method_set("SCRAM-SHA-256", Some(b"n,,n=alice,r=rOprNGfwEbeRWgbNEkqO"))?;
    /// assert_eq!(client.auth_method().as_deref(), Some("SCRAM-SHA-256"));
    /// client.auth_method_set(None, None)?;
    /// assert_eq!(client.auth_method(), None);
    ///
    /// let v311 = Client::new("");
    /// assert!(v311.auth_method_set("SCRAM-SHA-256", None).is_err());
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn auth_method_set<'a>(
        &self,
        method: impl crate::types::OptionalStr<'a>,
        initial_data: Option<&[u8]>,
    ) -> Result<()> {
        let method = method.into_option();
        let mut st = self.settings();
        let Some(method) = method else {
            st.auth = None;
            return Ok(());
        };
        if st.protocol != Protocol::V5 {
            return Err(Error::invalid(
                "auth_method",
                "enhanced authentication only applies to MQTT V5",
            ));
        }
        check_mqtt_string("auth_method", method)?;
        let data = initial_data.unwrap_or_default();
        if data.len() > usize::from(u16::MAX) {
            return Err(Error::invalid(
                "initial_data",
                "must be at most 65535 bytes",
            ));
        }
        st.auth = Some((method.to_owned(), data.to_vec()));
        Ok(())
    }

    /// The Authentication Method [`auth_method_set`](Client::auth_method_set) gave, if any.
    ///
    /// ```
    /// let client = pahoish::Client::builder().protocol(pahoish::MQTTv5).build()?;
    /// assert_eq!(client.auth_method(), None);
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn auth_method(&self) -> Option<String> {
        self.settings().auth.as_ref().map(|(m, _)| m.clone())
    }

    /// MQTT 5: re-authenticates on the live connection (not in Paho): sends AUTH with reason
    /// Re-authenticate (0x19), the connection's Authentication Method and `data`. The server
    /// answers with challenges, which [`on_auth`](Client::on_auth) answers as during CONNECT, and
    /// ends with AUTH Success, which `on_auth` also sees (with the server's last data); a server
    /// that refuses sends DISCONNECT, reported by `on_disconnect`. Other packets keep flowing
    /// meanwhile.
    ///
    /// Fails with [`Error::NoConn`] without an accepted connection, and when the connection's
    /// CONNECT had no Authentication Method ([MQTT-4.12.0-7]) or a re-authentication is already
    /// under way.
    ///
    /// ```
    /// let client = pahoish::Client::builder().protocol(pahoish::MQTTv5).build()?;
    /// client.auth_method_set("SCRAM-SHA-256", Some(b"n,,n=alice,r=abc"))?;
    /// assert!(matches!(
    ///     client.reauthenticate(Some(b"n,,n=alice,r=def")),
    ///     Err(pahoish::Error::NoConn)
    /// ));
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn reauthenticate(&self, data: Option<&[u8]>) -> Result<()> {
        let data = data.unwrap_or_default().to_vec();
        self.engine().with_session(|s| s.reauthenticate(data))?;
        self.kick();
        Ok(())
    }

    /// MQTT 5 enhanced authentication (not in Paho): called for each step the server takes, with the
    /// reason, the Authentication Data (empty when none) and the packet's properties:
    ///
    /// - `Continue authentication` (0x18): a challenge (AUTH), during CONNECT or a
    ///   [`reauthenticate`](Client::reauthenticate). Return `Ok(data)` to answer it with AUTH
    ///   Continue authentication carrying `data` ([MQTT-4.12.0-3]).
    /// - `Success` (0x00): the exchange ended, with the server's last data: the CONNACK that accepts
    ///   the connection (before `on_connect`), or the AUTH that ends a re-authentication. What `Ok`
    ///   holds is not used; this is where a mechanism checks the server's proof.
    ///
    /// Returning `Err(reason)` ends the exchange from the client's side: DISCONNECT with that reason
    /// (one a DISCONNECT may carry, such as `Not authorized` 0x87 or `Bad authentication method`
    /// 0x8C; another becomes 0x80), then `on_disconnect` with it, and no `on_connect`. A challenge
    /// that arrives with no `on_auth` set ends the connection with 0x8C. The refusals of the server
    /// come as a CONNACK (`on_connect`) or a DISCONNECT (`on_disconnect`), not here.
    ///
    /// ```
    /// use pahoish::{Client, MQTTv5, PacketTypes, ReasonCode};
    /// let client = Client::builder().protocol(MQTTv5).build()?;
    /// client.auth_method_set("EXAMPLE-TOKEN", Some(b"hello"))?;
    /// client.on_auth(|_client, _userdata, reason, data, _props| {
    ///     match (reason.value(), data) {
    ///         (0x18, b"who are you?") => Ok(b"it's me".to_vec()),
    ///         (0x00, _) => Ok(Vec::new()),
    ///         _ => Err(ReasonCode::from_name(PacketTypes::DISCONNECT, "Not authorized").unwrap()),
    ///     }
    /// });
    /// # Ok::<(), pahoish::Error>(())
    /// ```
    pub fn on_auth<F>(&self, callback: F)
    where
        F: FnMut(&Client<U>, &mut U, ReasonCode, &[u8], &Properties) -> AuthAnswer + Send + 'static,
    {
        self.callbacks().on_auth = slot(Box::new(callback));
        self.callbacks_changed();
    }

    /// Runs `on_auth` for a step; `None` when it is not set.
    pub(super) fn fire_auth(&self, reason: ReasonCode, props: &Properties) -> Option<AuthAnswer> {
        let mut answer = None;
        let data = props.authentication_data().unwrap_or_default();
        self.fire(
            |c| &mut c.on_auth,
            |cb, client, ud| answer = Some(cb(client, ud, reason, data, props)),
        );
        answer
    }
}
