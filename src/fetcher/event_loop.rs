//! The fetcher's event loop: one link per upstream, each acting when its
//! socket is ready or its deadline has come; the parent's orders; the
//! validator's requests.
//!
//! Runs in the fetcher (unprivileged, chrooted, sandboxed), one thread,
//! mio. A reload replaces the links whose upstream or settings changed and
//! keeps the others, connections and tables included.

use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{error, info};
use mio::{Events, Interest, Poll, Registry, Token};
use rustls::ClientConfig;

use crate::config::{Config, Source, Upstream};
use crate::failed::{Failed, OrFail};
use crate::msg::{self, FromValidator, Reach, ToFetcher};

use super::rtr::RtrLink;
use super::sink::Sink;
use super::tls;
use super::web::HttpLink;

const PARENT: Token = Token(0);
const VALIDATOR: Token = Token(1);
/// Link `i` has token `FIRST_LINK + i`.
const FIRST_LINK: usize = 2;

/// What a link needs from the event loop when it acts.
pub(super) struct Ctx<'a> {
    /// To register sockets.
    pub(super) registry: &'a Registry,
    /// The link's token.
    pub(super) token: Token,
    /// Addresses and keys.
    pub(super) reach: &'a Reach,
    /// The ports of the configured URLs: the only ones Landlock lets the
    /// fetcher connect to.
    pub(super) ports: &'a [u16],
    /// To the validator.
    pub(super) sink: &'a mut Sink,
}

/// One upstream.
enum Link {
    Rtr(Box<RtrLink>),
    Http(Box<HttpLink>),
}

impl Link {
    fn url(&self) -> &Upstream {
        match self {
            Link::Rtr(l) => &l.url,
            Link::Http(l) => &l.url,
        }
    }

    fn source(&self) -> &Source {
        match self {
            Link::Rtr(l) => &l.source,
            Link::Http(l) => &l.source,
        }
    }

    fn deadline(&self) -> Instant {
        match self {
            Link::Rtr(l) => l.deadline(),
            Link::Http(l) => l.deadline(),
        }
    }

    fn act(&mut self, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        match self {
            Link::Rtr(l) => l.act(ctx),
            Link::Http(l) => l.act(ctx),
        }
    }

    fn close(&mut self, registry: &Registry) {
        match self {
            Link::Rtr(l) => l.close(registry),
            Link::Http(l) => l.close(registry),
        }
    }

    fn refetch(&mut self) {
        match self {
            Link::Rtr(l) => l.refetch(),
            Link::Http(l) => l.refetch(),
        }
    }

    fn resend(&mut self, sink: &mut Sink) -> Result<(), privsep::FrameError> {
        match self {
            Link::Rtr(l) => l.resend(sink),
            Link::Http(l) => {
                l.resend();
                Ok(())
            }
        }
    }
}

/// The fetcher between two turns of its loop.
pub(super) struct Fetcher {
    config: Config,
    reach: Reach,
    parent: privsep::Channel,
    sink: Sink,
    poll: Poll,
    /// The links, by slot; a slot is free once its link is gone, so that
    /// the tokens of the others stay.
    links: Vec<Option<Link>>,
    /// The ports of the URLs at start-up: Landlock's list.
    ports: Vec<u16>,
}

impl Fetcher {
    /// The loop's state, with the channels registered and a link for
    /// every upstream of `config`.
    pub(super) fn new(
        config: Config,
        reach: Reach,
        parent: privsep::Channel,
        validator: privsep::Channel,
    ) -> std::io::Result<Fetcher> {
        let poll = Poll::new()?;
        parent.set_nonblocking(true)?;
        validator.set_nonblocking(true)?;
        for (channel, token) in [(&parent, PARENT), (&validator, VALIDATOR)] {
            poll.registry().register(
                &mut mio::unix::SourceFd(&channel.as_raw_fd()),
                token,
                Interest::READABLE,
            )?;
        }
        let ports = config.upstream_ports();
        let mut f = Fetcher {
            config: config.clone(),
            reach: Reach::default(),
            parent,
            sink: Sink::new(validator),
            poll,
            links: Vec::new(),
            ports,
        };
        f.configure(config, reach);
        Ok(f)
    }

    /// The ports it may connect to: those of the upstreams at start-up.
    pub(super) fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Fetch until the parent closes its channel.
    pub(super) fn run(&mut self) -> Result<(), Failed> {
        let mut events = Events::with_capacity(64);
        loop {
            self.act_due()?;
            let wake = self
                .links
                .iter()
                .flatten()
                .map(Link::deadline)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let timeout = wake.saturating_duration_since(Instant::now());
            // A millisecond more: a deadline is past when the loop wakes.
            if let Err(e) = self
                .poll
                .poll(&mut events, Some(timeout + Duration::from_millis(1)))
            {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e).or_fail("poll");
                }
            }
            for event in &events {
                match event.token() {
                    PARENT => {
                        if !self.handle_parent()? {
                            info!("exiting");
                            return Ok(());
                        }
                    }
                    VALIDATOR => {
                        if !self.handle_validator()? {
                            info!("validator gone; exiting");
                            return Ok(());
                        }
                    }
                    Token(t) => self.act(t.wrapping_sub(FIRST_LINK))?,
                }
            }
        }
    }

    /// Let every link whose deadline has come act.
    fn act_due(&mut self) -> Result<(), Failed> {
        let now = Instant::now();
        for i in 0..self.links.len() {
            if self.links[i].as_ref().is_some_and(|l| l.deadline() <= now) {
                self.act(i)?;
            }
        }
        Ok(())
    }

    /// Let link `i` act.
    fn act(&mut self, i: usize) -> Result<(), Failed> {
        let Some(Some(link)) = self.links.get_mut(i) else {
            return Ok(());
        };
        let mut ctx = Ctx {
            registry: self.poll.registry(),
            token: Token(FIRST_LINK + i),
            reach: &self.reach,
            ports: &self.ports,
            sink: &mut self.sink,
        };
        link.act(&mut ctx).or_fail("validator channel")
    }

    /// Take what the parent sent: a configuration, or the order to fetch
    /// now. False once it has closed the channel; anything else is a
    /// breach of the protocol, and fatal.
    fn handle_parent(&mut self) -> Result<bool, Failed> {
        let open = self.parent.fill().or_fail("parent channel")?;
        while let Some(frame) = self.parent.next_frame().or_fail("parent channel")? {
            match frame
                .decode::<ToFetcher>(msg::MAX_BODY)
                .or_fail("parent channel: not a configuration or an order to fetch")?
            {
                ToFetcher::Config(config, reach) => self.configure(*config, *reach),
                ToFetcher::Refetch => {
                    info!("fetching every upstream now");
                    for link in self.links.iter_mut().flatten() {
                        link.refetch();
                    }
                }
            }
        }
        Ok(open)
    }

    /// Take what the validator asks: an upstream's data again. False once
    /// it has closed the channel; anything else is a breach of the
    /// protocol, and fatal.
    fn handle_validator(&mut self) -> Result<bool, Failed> {
        let channel = self.sink.channel();
        let open = channel.fill().or_fail("validator channel")?;
        let mut asked = Vec::new();
        while let Some(frame) = channel.next_frame().or_fail("validator channel")? {
            let FromValidator::Resend(url) = frame
                .decode::<FromValidator>(msg::MAX_BODY)
                .or_fail("validator channel: not a request to send an upstream's data again")?;
            asked.push(url);
        }
        for url in asked {
            if let Some(link) = self.links.iter_mut().flatten().find(|l| *l.url() == url) {
                link.resend(&mut self.sink).or_fail("validator channel")?;
            }
        }
        Ok(open)
    }

    /// Take a configuration: keep the links whose upstream and settings
    /// stay, close the others, add the new ones.
    fn configure(&mut self, config: Config, reach: Reach) {
        let registry = self.poll.registry();
        let reach_changed = reach != self.reach;
        let wanted = |url: &Upstream, source: &Source| {
            config
                .sources
                .iter()
                .any(|s| s == source && s.url.contains(url))
        };
        for slot in &mut self.links {
            let keep = slot
                .as_ref()
                .is_some_and(|l| !reach_changed && wanted(l.url(), l.source()));
            if !keep {
                if let Some(mut l) = slot.take() {
                    l.close(registry);
                }
            }
        }
        for source in &config.sources {
            if source.url.is_empty() {
                continue;
            }
            let tls = tls::client_config(source, &reach).unwrap_or_else(|e| {
                error!("{}: {e}; its TLS upstreams are not fetched", source.name());
                None
            });
            for url in &source.url {
                if self.links.iter().flatten().any(|l| l.url() == url) {
                    continue;
                }
                let Some(link) = link(url, source, &reach, tls.clone()) else {
                    continue;
                };
                match self.links.iter().position(Option::is_none) {
                    Some(free) => self.links[free] = Some(link),
                    None => self.links.push(Some(link)),
                }
            }
        }
        self.config = config;
        self.reach = reach;
    }
}

/// The link for `url`, a member of `source`, if it can be made: a TLS
/// upstream needs its configuration and a name to check.
fn link(
    url: &Upstream,
    source: &Source,
    reach: &Reach,
    tls: Option<Arc<ClientConfig>>,
) -> Option<Link> {
    if !url.scheme.is_rtr() {
        return Some(Link::Http(Box::new(HttpLink::new(
            url.clone(),
            source.clone(),
            tls,
        ))));
    }
    let tls = match (url.scheme.is_tls(), tls) {
        (true, Some(config)) => match tls::server_name(url) {
            Ok(name) => Some((config, name)),
            Err(e) => {
                error!("{e}; not fetched");
                return None;
            }
        },
        (true, None) => return None,
        (false, _) => None,
    };
    let addrs = reach.socket_addrs(url);
    Some(Link::Rtr(Box::new(RtrLink::new(
        url.clone(),
        source.clone(),
        addrs,
        tls,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fetcher with no upstreams, and the parent's and the validator's
    /// ends of its channels.
    fn fetcher() -> (Fetcher, privsep::Channel, privsep::Channel) {
        let config = Config::parse(std::path::Path::new("/etc/rovd.conf"), "").unwrap();
        let (parent, ours_p) = privsep::Channel::pair(msg::MAX_BODY).unwrap();
        let (validator, ours_v) = privsep::Channel::pair(msg::MAX_BODY).unwrap();
        let f = Fetcher::new(config, Reach::default(), ours_p, ours_v).unwrap();
        (f, parent, validator)
    }

    fn url() -> Upstream {
        Upstream::parse("rtr://cache.example.net").unwrap()
    }

    #[test]
    fn the_parent_configures_and_orders_fetches_and_nothing_else() {
        let (mut f, mut parent, _validator) = fetcher();
        let config = Config::parse(std::path::Path::new("/etc/rovd.conf"), "").unwrap();
        parent
            .send(&ToFetcher::Config(Box::new(config), Box::default()))
            .unwrap();
        parent.send(&ToFetcher::Refetch).unwrap();
        assert_eq!(f.handle_parent(), Ok(true));
        // What only the validator asks, from the parent.
        parent.send(&FromValidator::Resend(url())).unwrap();
        assert_eq!(f.handle_parent(), Err(Failed));
        // The parent gone: the fetcher's end.
        let (mut f, parent, _validator) = fetcher();
        drop(parent);
        assert_eq!(f.handle_parent(), Ok(false));
    }

    #[test]
    fn the_validator_asks_for_data_again_and_nothing_else() {
        let (mut f, _parent, mut validator) = fetcher();
        // An upstream the fetcher has no link for: nothing to send.
        validator.send(&FromValidator::Resend(url())).unwrap();
        assert_eq!(f.handle_validator(), Ok(true));
        // The parent's orders, from the validator.
        validator.send(&ToFetcher::Refetch).unwrap();
        assert_eq!(f.handle_validator(), Err(Failed));
        let (mut f, _parent, mut validator) = fetcher();
        let config = Config::parse(std::path::Path::new("/etc/rovd.conf"), "").unwrap();
        validator
            .send(&ToFetcher::Config(Box::new(config), Box::default()))
            .unwrap();
        assert_eq!(f.handle_validator(), Err(Failed));
        let (mut f, _parent, validator) = fetcher();
        drop(validator);
        assert_eq!(f.handle_validator(), Ok(false));
    }
}
