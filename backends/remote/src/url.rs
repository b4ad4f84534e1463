//! The connection URL: `iggy+tcp://user:pass@host:port[,host:port…]` or
//! `iggy+quic://…`.

use std::{cell::Cell, fmt};

use percent_encoding::percent_decode_str;
use rustok_iggy::{config::Secret, Error, ErrorKind, Result};
use url::{ParseError, SyntaxViolation, Url};

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
/// are percent-decoded (a `/`, `?`, `#` or `%` in them must be written
/// percent-encoded). Several addresses are separated by commas and tried
/// in order. Query strings and paths are refused: every option is a config
/// key.
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

/// Stands in for the address list while the `url` crate reads the rest.
const HOST_PLACEHOLDER: &str = "addresses";

impl Endpoints {
    /// Parses `url`. Errors are [`ErrorKind::Config`] and never repeat the
    /// URL's credentials.
    ///
    /// The `url` crate reads scheme, user info, query and fragment, and
    /// checks every address; only the comma-separated address list, which
    /// no URL grammar has, is split off first.
    pub fn parse(url: &str) -> Result<Self> {
        let expected = || {
            Error::config(
                KEY,
                "expected `iggy+tcp://[user:pass@]host:port` or `iggy+quic://…`",
            )
        };
        let (rest, hosts) = split_addresses(url.trim()).ok_or_else(expected)?;
        let bad_escape = Cell::new(false);
        let on_violation = |violation| {
            if violation == SyntaxViolation::PercentDecode {
                bad_escape.set(true);
            }
        };
        let parsed = Url::options()
            .syntax_violation_callback(Some(&on_violation))
            .parse(&rest)
            .map_err(|_| expected())?;
        let scheme = parsed.scheme();
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
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(Error::config(
                KEY,
                "query options are not accepted in the URL; set them as keys of [plugins.remote]",
            ));
        }
        if !matches!(parsed.path(), "" | "/") {
            return Err(Error::config(
                KEY,
                "a path is not accepted in the URL: expected `iggy+tcp://[user:pass@]host:port`",
            ));
        }
        // Only the user info is left to hold an escape (the path and query
        // were refused above).
        if bad_escape.get() {
            return Err(Error::config(
                KEY,
                "the user name or password is not valid percent-encoding: \
                 `%` must be followed by two hex digits (write `%` itself as `%25`)",
            ));
        }
        let username = percent_decode_str(parsed.username())
            .decode_utf8()
            .map_err(|_| Error::config(KEY, "the user name is not valid percent-encoded UTF-8"))?;
        let password = parsed
            .password()
            .map(|p| {
                percent_decode_str(p).decode_utf8().map_err(|_| {
                    Error::config(KEY, "the password is not valid percent-encoded UTF-8")
                })
            })
            .transpose()?
            .map(|p| Secret::new(p.into_owned()));
        let mut addresses = Vec::new();
        for address in hosts.split(',').map(str::trim) {
            validate_address(scheme, address)?;
            addresses.push(address.to_owned());
        }
        Ok(Self {
            transport,
            addresses,
            username: (!username.is_empty()).then(|| username.into_owned()),
            password,
        })
    }
}

/// Splits `scheme://[userinfo@]host:port,host:port[/…]` into the URL with
/// [`HOST_PLACEHOLDER`] in place of its address list, and that list; `None`
/// without `://`. The authority ends where the `url` crate ends it (`/`,
/// `?` or `#`), and the list starts after its last `@`, as the user info
/// does there.
fn split_addresses(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let hosts_start = authority.rfind('@').map_or(0, |at| at + 1);
    let (userinfo, hosts) = authority.split_at(hosts_start);
    Some((
        format!("{scheme}://{userinfo}{HOST_PLACEHOLDER}{tail}"),
        hosts,
    ))
}

/// Checks one `host:port` of the list with the `url` crate, as the
/// authority of a `scheme://` URL.
fn validate_address(scheme: &str, address: &str) -> Result<()> {
    let bad = |why: &str| Error::config(KEY, format!("address `{address}`: {why}"));
    let parsed = Url::parse(&format!("{scheme}://{address}")).map_err(|e| match e {
        ParseError::EmptyHost => bad("missing host"),
        ParseError::InvalidPort => bad("the port is not a number 0-65535"),
        other => bad(&format!("not a valid host: {other}")),
    })?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("missing host"));
    }
    if parsed.port().is_none() {
        return Err(bad("expected host:port"));
    }
    Ok(())
}

/// `url` with any password replaced by `***`, for logs and errors.
///
/// By hand rather than through the `url` crate: it must also hide the
/// password of a URL that does not parse.
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
    fn decodes_user_info_around_the_address_list() {
        // A comma or `@` in the password does not split the address list.
        let e = Endpoints::parse("iggy+tcp://app:a,b@c@h:1,g:2/").unwrap();
        assert_eq!(e.addresses, vec!["h:1", "g:2"]);
        assert_eq!(e.username.as_deref(), Some("app"));
        assert_eq!(e.password.as_ref().map(|p| p.expose()), Some("a,b@c"));
        let e = Endpoints::parse("IGGY+TCP://us%C3%A9r:p%2Bw+d@h:1").unwrap();
        assert_eq!(e.username.as_deref(), Some("usér"));
        assert_eq!(e.password.as_ref().map(|p| p.expose()), Some("p+w+d"));
        let e = Endpoints::parse(" iggy+tcp://:pw@h:1 ").unwrap();
        assert_eq!(e.username, None);
        assert_eq!(e.password.as_ref().map(|p| p.expose()), Some("pw"));
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
            ("iggy+tcp://%zz@a:1", "percent"),
            (
                "iggy+tcp://u:%FF@a:1",
                "password is not valid percent-encoded UTF-8",
            ),
            (
                "iggy+tcp://%FF@a:1",
                "user name is not valid percent-encoded UTF-8",
            ),
            ("iggy+tcp://a:1/stream", "path"),
            ("iggy+tcp://a:1#x", "query options"),
            ("iggy+tcp://a:1,", "missing host"),
            ("iggy+tcp://a:1,[::1:2", "not a valid host"),
            ("iggy+tcp://", "missing host"),
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
