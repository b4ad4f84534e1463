//! The connection URL: `iggy+tcp://user:pass@host:port[,host:port…]` or
//! `iggy+quic://…`.

use std::fmt;

use rustok_iggy::{config::Secret, Error, ErrorKind, Result};

/// The SDK transport a URL selects (named like the SDK's own enum, and
/// unlike the core's `Transport`, which is the application-facing API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportProtocol {
    /// `iggy+tcp://`, `iggy://`, `tcp://`: the SDK's TCP client, with TLS
    /// when `tls = true`.
    Tcp,
    /// `iggy+quic://`, `quic://`: the SDK's QUIC client (always encrypted;
    /// the server's UDP address).
    Quic,
}

impl fmt::Display for TransportProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportProtocol::Tcp => "tcp",
            TransportProtocol::Quic => "quic",
        })
    }
}

/// Why the HTTP transport is refused (shown in the error).
const NO_HTTP: &str = "the SDK's HTTP client cannot join or leave consumer groups (it answers \
    `FeatureUnavailable`) and has no binary path for the group sync, and this backend's \
    consumers are server-side group members; use `iggy+tcp://` (with `tls = true` for \
    encryption) or `iggy+quic://`";

/// Why the WebSocket transport is refused (shown in the error).
const NO_WS: &str = "the WebSocket transport is not offered because it cannot be tested here: \
    no WebSocket Iggy endpoint runs in this project's tests (rustok-iggy-server speaks TCP, TLS \
    and QUIC), and an untested transport would be a guess; use `iggy+tcp://` or `iggy+quic://`";

/// Where and as whom to connect, parsed from a URL.
///
/// Accepted schemes are `iggy+tcp`, `iggy` and `tcp` (TCP, TLS per the
/// `tls` key) and `iggy+quic` and `quic` (QUIC). `iggy+http`, `http`,
/// `https`, `iggy+ws`, `ws` and `wss` are recognised and refused with an
/// [`ErrorKind::Config`] error saying why: the SDK's HTTP client cannot be
/// a consumer-group member, and WebSocket is untested. User and password
/// are percent-decoded. Several addresses are separated by commas and tried
/// in order. Query strings are refused: every option is a config key.
///
/// ```
/// use rustok_iggy_remote::{Endpoints, TransportProtocol};
///
/// let e = Endpoints::parse("iggy+tcp://app:s%40cret@10.0.0.1:8090,10.0.0.2:8090").unwrap();
/// assert_eq!(e.addresses, vec!["10.0.0.1:8090", "10.0.0.2:8090"]);
/// assert_eq!(e.transport, TransportProtocol::Tcp);
/// assert_eq!(e.username.as_deref(), Some("app"));
/// assert_eq!(e.password.as_ref().map(|p| p.expose()), Some("s@cret"));
/// // The password never shows.
/// assert!(!format!("{e:?}").contains("cret"));
///
/// let e = Endpoints::parse("iggy+quic://app:secret@10.0.0.1:8080").unwrap();
/// assert_eq!(e.transport, TransportProtocol::Quic);
/// let err = Endpoints::parse("iggy+http://10.0.0.1:3000").unwrap_err();
/// assert!(err.to_string().contains("consumer groups"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The SDK transport.
    pub transport: TransportProtocol,
    /// `host:port` pairs, in the order they are tried.
    pub addresses: Vec<String>,
    /// User from the URL, if any.
    pub username: Option<String>,
    /// Password from the URL, if any.
    pub password: Option<Secret>,
}

impl fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoints")
            .field("transport", &self.transport)
            .field("addresses", &self.addresses)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

const KEY: &str = "plugins.remote.url";

impl Endpoints {
    /// Parses `url`. Errors are [`ErrorKind::Config`] and never repeat the
    /// URL's credentials.
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            Error::config(
                KEY,
                "expected `iggy+tcp://[user:pass@]host:port` or `iggy+quic://…`",
            )
        })?;
        let refused = |why: &str| {
            Error::new(
                ErrorKind::Config,
                format!("transport `{scheme}` is not supported by the remote backend: {why}"),
            )
            .with_context("key", KEY)
        };
        let transport = match scheme {
            "iggy" | "iggy+tcp" | "tcp" => TransportProtocol::Tcp,
            "iggy+quic" | "quic" => TransportProtocol::Quic,
            "iggy+http" | "http" | "https" => return Err(refused(NO_HTTP)),
            "iggy+ws" | "ws" | "wss" => return Err(refused(NO_WS)),
            other => {
                return Err(Error::config(
                    KEY,
                    format!("unknown scheme `{other}`; expected `iggy+tcp://` or `iggy+quic://`"),
                ))
            }
        };
        if rest.contains('?') || rest.contains('#') {
            return Err(Error::config(
                KEY,
                "query options are not accepted in the URL; set them as keys of [plugins.remote]",
            ));
        }
        let (userinfo, hosts) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, pass) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let user = percent_decode(user).ok_or_else(|| {
                    Error::config(KEY, "the user name is not valid percent-encoded UTF-8")
                })?;
                let pass = match pass {
                    None => None,
                    Some(p) => Some(Secret::new(percent_decode(p).ok_or_else(|| {
                        Error::config(KEY, "the password is not valid percent-encoded UTF-8")
                    })?)),
                };
                ((!user.is_empty()).then_some(user), pass)
            }
        };
        let hosts = hosts.trim_end_matches('/');
        let mut addresses = Vec::new();
        for address in hosts.split(',').map(str::trim) {
            validate_address(address)?;
            addresses.push(address.to_owned());
        }
        Ok(Self {
            transport,
            addresses,
            username,
            password,
        })
    }
}

fn validate_address(address: &str) -> Result<()> {
    let bad = |why: &str| Error::config(KEY, format!("address `{address}`: {why}"));
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    if host.is_empty() || host.contains('/') {
        return Err(bad("missing host"));
    }
    port.parse::<u16>()
        .map_err(|_| bad("the port is not a number 0-65535"))?;
    Ok(())
}

/// `%XX` decoding; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `url` with any password replaced by `***`, for logs and errors.
pub(crate) fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (info, hosts) = rest.rsplit_once('@').unwrap_or(("", rest));
            let user = info.split_once(':').map(|(u, _)| u).unwrap_or(info);
            format!("{scheme}://{user}:***@{hosts}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_users_and_address_lists() {
        let e = Endpoints::parse("iggy://iggy:iggy@127.0.0.1:8090").unwrap();
        assert_eq!(e.addresses, vec!["127.0.0.1:8090"]);
        assert_eq!(e.username.as_deref(), Some("iggy"));
        let e = Endpoints::parse("iggy+tcp://localhost:1,[::1]:2/").unwrap();
        assert_eq!(e.addresses, vec!["localhost:1", "[::1]:2"]);
        assert_eq!((e.username, e.password), (None, None));
        for url in ["iggy+quic://u:p@h:8080,g:8080", "quic://h:1"] {
            let e = Endpoints::parse(url).unwrap();
            assert_eq!(e.transport, TransportProtocol::Quic, "{url}");
        }
        for url in ["iggy://h:1", "tcp://h:1"] {
            assert_eq!(
                Endpoints::parse(url).unwrap().transport,
                TransportProtocol::Tcp
            );
        }
    }

    #[test]
    fn refuses_other_transports_queries_and_bad_addresses() {
        for (url, needle) in [
            ("iggy+http://a:1", "cannot join or leave consumer groups"),
            ("http://a:1", "cannot join or leave consumer groups"),
            ("https://a:1", "cannot join or leave consumer groups"),
            ("iggy+ws://a:1", "cannot be tested"),
            ("wss://a:1", "cannot be tested"),
            ("kafka://a:1", "unknown scheme"),
            ("iggy+tcp://a:1?tls=true", "query options"),
            ("iggy+tcp://a", "host:port"),
            ("iggy+tcp://a:99999", "port"),
            ("iggy+tcp://u:p@:1", "missing host"),
            ("a:1", "expected"),
            ("iggy+tcp://u:%zz@a:1", "percent"),
        ] {
            let err = Endpoints::parse(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
            assert!(err.to_string().contains(needle), "{url}: {err}");
        }
    }

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let err = Endpoints::parse("iggy+tcp://u:hunter2@a:nope").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"));
        let e = Endpoints::parse("iggy+tcp://u:hunter2@a:1").unwrap();
        assert!(!format!("{e:?}").contains("hunter2"));
        assert_eq!(redact("iggy+tcp://u:hunter2@a:1"), "iggy+tcp://u:***@a:1");
        assert_eq!(redact("iggy+tcp://a:1"), "iggy+tcp://a:1");
    }
}
