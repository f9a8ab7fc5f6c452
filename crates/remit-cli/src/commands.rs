//! The commands.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context as _, Result, anyhow, bail};
use remit_cli::input::{
    FileAdjustment, InvoiceFile, ProfileFile, adjustment_rows, build_invoice, check_name, deadline,
    parse_address, parse_duration, parse_fingerprint, parse_method, parse_money, read_invoice_file,
    split_line,
};
use remit_client::{
    Engine, SqliteStore, Verdict,
    transport::{Client, ClientEvent, Clock},
};
use remit_pay::{
    CancelReason, DeclineReason, Id, PaymentMethod, RequestDraft, Role, Settlement, ThreadState,
    Verification,
};
use serde_json::{Map, Value, json};

use crate::{
    Cli, Command, ContactCommand, InvoiceArgs, PayArgs, RequestArgs,
    describe::{engine_event, event_line, short_id, state_name, thread_line},
    profile::{Profile, clock_from_env},
};

/// What a command prints: human lines, or one JSON object.
pub(crate) struct Output {
    json: bool,
    map: Map<String, Value>,
    received: Vec<Value>,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            map: Map::new(),
            received: Vec::new(),
        }
    }

    /// A human line (shown unless `--json`).
    pub(crate) fn line(&self, text: impl AsRef<str>) {
        if !self.json {
            println!("{}", text.as_ref());
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: Value) {
        self.map.insert(key.to_owned(), value);
    }

    fn finish(mut self) {
        if self.json {
            if !self.received.is_empty() {
                self.map
                    .insert("received".into(), Value::Array(self.received));
            }
            println!("{}", Value::Object(self.map));
        }
    }
}

pub(crate) async fn run(cli: Cli) -> Result<()> {
    let home = match cli.home.clone() {
        Some(h) => h,
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".remit"))
            .ok_or_else(|| anyhow!("no home directory: pass --home or set REMIT_HOME"))?,
    };
    let mut out = Output::new(cli.json);
    match cli.command {
        Command::Demo => crate::demo::run(&mut out).await?,
        Command::Relay { listen, data_dir } => {
            relay(
                &mut out,
                listen,
                data_dir.unwrap_or_else(|| home.join("relay")),
            )
            .await?;
        }
        command => {
            let name = cli.profile.clone().ok_or_else(|| {
                anyhow!("which profile? pass --profile NAME (or set REMIT_PROFILE)")
            })?;
            profile_command(&mut out, &home, &name, command).await?;
        }
    }
    out.finish();
    Ok(())
}

async fn relay(out: &mut Output, listen: std::net::SocketAddr, data_dir: PathBuf) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let relay = remit_relay::Relay::start(remit_relay::RelayConfig::new(listen, data_dir.clone()))
        .await
        .map_err(|e| anyhow!("cannot start the relay on {listen}: {e}"))?;
    let fingerprint = hex::encode(relay.fingerprint());
    if out.json {
        println!(
            "{}",
            json!({"listening": relay.local_addr().to_string(), "fingerprint": fingerprint, "data_dir": data_dir})
        );
    } else {
        // The two machine-readable lines first (scripts and tests read them), hints on stderr.
        use std::io::Write as _;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening {}", relay.local_addr());
        let _ = writeln!(stdout, "fingerprint {fingerprint}");
        let _ = stdout.flush();
        eprintln!(
            "profiles join with: remit init --profile NAME --relay {} --fingerprint {fingerprint}",
            relay.local_addr()
        );
        eprintln!(
            "Ctrl-C stops the relay; its data stays in {}",
            data_dir.display()
        );
    }
    let _ = tokio::signal::ctrl_c().await;
    relay.shutdown().await;
    // Already printed.
    out.json = false;
    Ok(())
}

async fn profile_command(
    out: &mut Output,
    home: &std::path::Path,
    name: &str,
    command: Command,
) -> Result<()> {
    if let Command::Init {
        relay,
        fingerprint,
        name: display,
    } = command
    {
        return init(out, home, name, relay, &fingerprint, display).await;
    }
    let mut profile = Profile::open(home, name)?;
    match command {
        Command::Id => id(out, &profile),
        Command::Contact(ContactCommand::Add { handle, address }) => {
            check_name("handle", &handle)?;
            let addr = parse_address(&address)?;
            profile
                .file
                .contacts
                .insert(handle.clone(), hex::encode(addr));
            profile.save()?;
            out.line(format!("contact {handle} = {}", hex::encode(addr)));
            out.set("handle", json!(handle));
            out.set("address", json!(hex::encode(addr)));
            Ok(())
        }
        Command::Contact(ContactCommand::List) => {
            let list: Vec<Value> = profile
                .file
                .contacts
                .iter()
                .map(|(h, a)| {
                    out.line(format!("{h}  {a}"));
                    json!({"handle": h, "address": a})
                })
                .collect();
            out.set("contacts", Value::Array(list));
            Ok(())
        }
        Command::Verify { peer } => verify(out, &profile, &peer).await,
        Command::Request(args) => request(out, &profile, &args).await,
        Command::Invoice(args) => invoice(out, &profile, &args).await,
        Command::Pay(args) => pay(out, &profile, &args).await,
        Command::Receipt { request } => receipt(out, &profile, &request).await,
        Command::Decline {
            request,
            reason,
            note,
        } => {
            let code = decline_reason(&reason)?;
            let mut s = Session::open(out, &profile).await?;
            let id = s.resolve(&request).await?;
            let sent = s.client.decline(&id, code, &note).await?;
            s.report_sent(&sent, "declined").await;
            s.finish().await
        }
        Command::Cancel {
            request,
            reason,
            note,
        } => {
            let code = cancel_reason(&reason)?;
            let mut s = Session::open(out, &profile).await?;
            let id = s.resolve(&request).await?;
            let sent = s.client.cancel(&id, code, &note).await?;
            s.report_sent(&sent, "cancelled").await;
            s.finish().await
        }
        Command::Text { peer, text } => {
            let address = profile.contact(&peer)?;
            let s = Session::open(out, &profile).await?;
            s.client.ensure_session(&address, Some(&peer)).await?;
            s.client.send_text(&address, &text).await?;
            s.out.line(format!("sent to {peer}"));
            s.finish().await
        }
        Command::Inbox => {
            let s = Session::open(out, &profile).await?;
            s.finish_with_threads().await
        }
        Command::Listen => listen(out, &profile).await,
        Command::Demo | Command::Relay { .. } | Command::Init { .. } => Ok(()),
    }
}

async fn init(
    out: &mut Output,
    home: &std::path::Path,
    name: &str,
    relay: std::net::SocketAddr,
    fingerprint: &str,
    display: Option<String>,
) -> Result<()> {
    check_name("profile name", name)?;
    let fingerprint = parse_fingerprint(fingerprint)?;
    let dir = Profile::path(home, name);
    if dir.join("profile.toml").exists() {
        bail!("profile {name:?} already exists in {}", home.display());
    }
    let profile = Profile {
        name: name.to_owned(),
        dir: dir.clone(),
        file: ProfileFile {
            relay,
            fingerprint: hex::encode(fingerprint),
            display_name: display.unwrap_or_else(|| name.to_owned()),
            contacts: std::collections::BTreeMap::new(),
        },
    };
    let result = create_and_register(&profile).await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let address = result?;
    profile.save()?;
    out.line(format!("created profile {name}"));
    out.line(format!("address {}", hex::encode(address)));
    out.line(format!(
        "# give your address to peers; they run: remit contact add {name} {}",
        hex::encode(address)
    ));
    out.set("profile", json!(name));
    out.set("address", json!(hex::encode(address)));
    Ok(())
}

/// Creates the identity and publishes its prekeys at the relay (which checks the relay is
/// there and is the pinned one).
pub(crate) async fn create_and_register(profile: &Profile) -> Result<[u8; 32]> {
    std::fs::create_dir_all(&profile.dir)
        .with_context(|| format!("creating {}", profile.dir.display()))?;
    let clock = Clock::default();
    let mut rng = remit_client::transport::os_rng();
    let store = SqliteStore::open(profile.db_path())?;
    let engine = Engine::create(store, clock.now(), &mut rng)?;
    let address = engine.address();
    let client = Client::connect(engine, profile.transport_config(clock)?).await?;
    client.close().await;
    Ok(address)
}

fn id(out: &mut Output, profile: &Profile) -> Result<()> {
    let engine = profile.open_engine()?;
    let address = hex::encode(engine.address());
    out.line(format!("profile      {}", profile.name));
    out.line(format!("address      {address}"));
    out.line(format!("fingerprint  {}", engine.fingerprint()));
    out.line(format!(
        "relay        {} (certificate {}…)",
        profile.file.relay,
        &profile.file.fingerprint[..16]
    ));
    out.set("profile", json!(profile.name));
    out.set("address", json!(address));
    out.set("fingerprint", json!(engine.fingerprint().to_string()));
    out.set("relay", json!(profile.file.relay.to_string()));
    let mut contacts = Vec::new();
    for (handle, addr) in &profile.file.contacts {
        let addr = parse_address(addr)?;
        let info = engine.contact(handle);
        let identity = info
            .as_ref()
            .map(|c| c.identity)
            .or_else(|| engine.peer_identity(&addr).copied());
        let verified = info.as_ref().is_some_and(|c| c.verified);
        match identity {
            Some(identity) => {
                let sn = engine.safety_number(&identity).to_string();
                out.line(format!(
                    "{handle}: safety number {sn}{}",
                    if verified { " (verified)" } else { "" }
                ));
                contacts.push(json!({"handle": handle, "safety_number": sn, "verified": verified}));
            }
            None => {
                out.line(format!(
                    "{handle}: no session yet (safety number after the first message)"
                ));
                contacts.push(json!({"handle": handle, "safety_number": null, "verified": false}));
            }
        }
    }
    out.set("contacts", Value::Array(contacts));
    Ok(())
}

async fn verify(out: &mut Output, profile: &Profile, peer: &str) -> Result<()> {
    let address = profile.contact(peer)?;
    let s = Session::open(out, profile).await?;
    s.client.ensure_session(&address, Some(peer)).await?;
    let (sn, events) = {
        let mut core = s.client.lock().await;
        let now = s.client.clock().now();
        let frozen = core.engine.contact(peer).is_some_and(|c| c.frozen);
        let mut events = Vec::new();
        if frozen {
            events.extend(core.engine.confirm_identity(peer, now)?);
        }
        events.extend(core.engine.mark_verified(peer, now)?);
        let identity = core
            .engine
            .contact(peer)
            .map(|c| c.identity)
            .ok_or_else(|| anyhow!("no identity known for {peer}"))?;
        let described: Vec<_> = events
            .iter()
            .map(|e| engine_event(profile, &core.engine, e))
            .collect();
        (core.engine.safety_number(&identity).to_string(), described)
    };
    for (line, _) in &events {
        s.out.line(line);
    }
    s.out.line(format!("{peer} verified; safety number {sn}"));
    s.out.set("verified", json!(peer));
    s.out.set("safety_number", json!(sn));
    s.finish().await
}

fn methods(profile: &Profile, given: &[String]) -> Result<Vec<PaymentMethod>> {
    if given.is_empty() {
        return Ok(vec![PaymentMethod::Provider {
            provider: "examplepay".into(),
            account: format!("@{}", profile.name),
        }]);
    }
    given.iter().map(|m| parse_method(m)).collect()
}

async fn request(out: &mut Output, profile: &Profile, args: &RequestArgs) -> Result<()> {
    let text = match &args.asset {
        Some(asset) => format!("{} {asset}", args.amount),
        None => args.amount.clone(),
    };
    let amount = parse_money(&text)?;
    let expires_in = parse_duration(&args.expires_in)?;
    let methods = methods(profile, &args.method)?;
    let address = profile.contact(&args.peer)?;
    let mut s = Session::open(out, profile).await?;
    s.client.ensure_session(&address, Some(&args.peer)).await?;
    let now = s.client.clock().now();
    let draft = RequestDraft {
        amount,
        methods,
        memo: args.memo.clone(),
        reference: String::new(),
        payee_name: profile.file.display_name.clone(),
        created_at: now,
        expires_at: deadline(now, expires_in)?,
        allow_partial: args.partial,
        invoice: None,
    };
    let sent = s.client.request_payment(&address, &draft).await?;
    s.report_sent(&sent, &format!("asked {} for {}", args.peer, draft.amount))
        .await;
    s.finish().await
}

async fn invoice(out: &mut Output, profile: &Profile, args: &InvoiceArgs) -> Result<()> {
    let file = match &args.file {
        Some(p) => read_invoice_file(p)?,
        None => InvoiceFile::default(),
    };
    let mut items = file.item_rows();
    for i in &args.item {
        let v = split_line(i, 3, "item", "Coffee beans|2|12.50 USD")?;
        items.push((v[0].clone(), v[1].clone(), v[2].clone()));
    }
    let adj = |from_file: &[FileAdjustment],
               flags: &[String],
               what|
     -> Result<Vec<(String, String, String)>> {
        let mut list = adjustment_rows(from_file);
        for t in flags {
            let v = split_line(t, 2, what, "VAT|2.03 USD")?;
            list.push((v[0].clone(), v[1].clone(), String::new()));
        }
        Ok(list)
    };
    let taxes = adj(&file.taxes, &args.tax, "tax")?;
    let discounts = adj(&file.discounts, &args.discount, "discount")?;
    let due_in = parse_duration(&args.due_in)?;
    let methods = methods(profile, &args.method)?;
    let address = profile.contact(&args.peer)?;
    let clock = clock_from_env();
    let now = clock.now();
    let number = args
        .number
        .clone()
        .or(file.number)
        .unwrap_or_else(|| format!("INV-{now}"));
    let issuer = file
        .issuer
        .unwrap_or_else(|| profile.file.display_name.clone());
    let (amount, draft) = build_invoice(number, issuer, &items, &taxes, &discounts, now, due_in)?;
    let memo = args.memo.clone().or(file.memo).unwrap_or_default();
    let mut s = Session::open_with(out, profile, clock).await?;
    s.client.ensure_session(&address, Some(&args.peer)).await?;
    let request = RequestDraft {
        amount: amount.clone(),
        methods,
        memo,
        reference: draft.number.clone(),
        payee_name: profile.file.display_name.clone(),
        created_at: now,
        expires_at: draft.due_at,
        allow_partial: false,
        invoice: Some(draft),
    };
    let sent = s.client.send_invoice(&address, &request).await?;
    s.report_sent(&sent, &format!("invoiced {} for {amount}", args.peer))
        .await;
    s.finish().await
}

/// The settlement for a transfer by `method` with `reference`.
pub(crate) fn settlement_for(method: &PaymentMethod, reference: &str) -> Result<Settlement> {
    Ok(match method {
        PaymentMethod::Provider { provider, .. } => Settlement::Provider {
            provider: provider.clone(),
            transfer_id: reference.to_owned(),
        },
        PaymentMethod::Bank { .. } => Settlement::Bank {
            end_to_end_id: reference.to_owned(),
        },
        PaymentMethod::OnChain { chain, .. } => Settlement::OnChain {
            chain: chain.clone(),
            txid: reference.to_owned(),
        },
        PaymentMethod::Lightning(_) => bail!("Lightning payments are not supported by the CLI"),
        _ => bail!("this payment method is not supported by the CLI"),
    })
}

/// Refuses to act on an expired request, with a line that says so.
pub(crate) fn check_open(engine: &Engine<SqliteStore>, id: &Id, now: u64) -> Result<()> {
    let thread = engine
        .thread(id)
        .ok_or_else(|| anyhow!("unknown request {}", short_id(id)))?;
    let r = thread.request().request();
    if thread.state() == ThreadState::Expired || now >= r.expires_at {
        bail!(
            "request {} expired {} ago; ask the payee for a new one",
            short_id(id),
            human_duration(now.saturating_sub(r.expires_at))
        );
    }
    Ok(())
}

fn human_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

async fn pay(out: &mut Output, profile: &Profile, args: &PayArgs) -> Result<()> {
    let amount = args.amount.as_deref().map(parse_money).transpose()?;
    let mut s = Session::open(out, profile).await?;
    let id = s.resolve(&args.request).await?;
    s.client.handle_timeout().await?;
    let (amount, settlement) = {
        let core = s.client.lock().await;
        check_open(&core.engine, &id, s.client.clock().now())?;
        let thread = core
            .engine
            .thread(&id)
            .ok_or_else(|| anyhow!("unknown request {}", short_id(&id)))?;
        if thread.local_role() != Role::Payer {
            bail!(
                "request {} is yours: only the payer records a payment",
                short_id(&id)
            );
        }
        let r = thread.request().request();
        let method = usize::try_from(args.method)
            .ok()
            .and_then(|i| r.methods.get(i))
            .ok_or_else(|| {
                anyhow!(
                    "request {} has {} method(s); --method {} does not exist",
                    short_id(&id),
                    r.methods.len(),
                    args.method
                )
            })?;
        (
            amount.unwrap_or_else(|| r.amount.clone()),
            settlement_for(method, &args.reference)?,
        )
    };
    let shown = amount.to_string();
    let sent = s
        .client
        .notify_payment(&id, amount, args.method, settlement, &args.note)
        .await?;
    s.report_sent(
        &sent,
        &format!("recorded a payment of {shown} (ref {})", args.reference),
    )
    .await;
    s.finish().await
}

/// The user's word that the money of `request_id` arrived.
async fn receipt(out: &mut Output, profile: &Profile, request: &str) -> Result<()> {
    let mut s = Session::open(out, profile).await?;
    let id = s.resolve(request).await?;
    let lines = {
        let mut core = s.client.lock().await;
        let thread = core
            .engine
            .thread(&id)
            .ok_or_else(|| anyhow!("unknown request {}", short_id(&id)))?;
        if thread.local_role() != Role::Payee {
            bail!(
                "request {} was sent to you: only the payee sends a receipt",
                short_id(&id)
            );
        }
        if thread.payments().is_empty() {
            bail!(
                "request {}: no payment recorded yet (run `remit inbox` to fetch it)",
                short_id(&id)
            );
        }
        let now = s.client.clock().now();
        // The app's check of its rail (here: the person at the command line confirmed it).
        let verdicts: Vec<Verdict> = core
            .engine
            .pending_settlements()
            .iter()
            .filter(|p| p.request.request_id == id)
            .map(|p| p.verdict(Verification::Settled(p.notice.amount.clone())))
            .collect();
        let events = core.engine.apply_verdicts(&verdicts, now)?;
        events
            .iter()
            .map(|e| engine_event(profile, &core.engine, e).0)
            .collect::<Vec<_>>()
    };
    for l in lines {
        s.out.line(l);
    }
    let sent = s.client.send_receipt(&id).await?;
    s.report_sent(&sent, "sent a receipt").await;
    s.finish().await
}

async fn listen(out: &mut Output, profile: &Profile) -> Result<()> {
    let mut s = Session::open(out, profile).await?;
    s.out
        .line(format!("listening as {} (Ctrl-C to stop)", profile.name));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = s.client.next_event() => match event {
                None => break,
                Some(ClientEvent::Disconnected { error, retry_in }) => {
                    s.out.line(format!("disconnected ({error}); retrying in {retry_in:?}"));
                }
                Some(ClientEvent::Connected { .. }) => s.out.line("connected"),
                Some(e) => {
                    profile.pin_contacts(&s.client).await?;
                    let shown = {
                        let core = s.client.lock().await;
                        event_line(profile, &core.engine, &e)
                    };
                    if let Some((line, value)) = shown {
                        if s.out.json {
                            println!("{value}");
                        } else {
                            println!("{line}");
                        }
                    }
                }
            }
        }
    }
    s.out.json = false;
    s.finish().await
}

pub(crate) fn decline_reason(text: &str) -> Result<DeclineReason> {
    Ok(match text {
        "other" => DeclineReason::Other,
        "unknown-payee" => DeclineReason::UnknownPayee,
        "wrong-amount" => DeclineReason::WrongAmount,
        "already-paid" => DeclineReason::AlreadyPaid,
        "duplicate" => DeclineReason::Duplicate,
        "unsupported-method" => DeclineReason::UnsupportedMethod,
        "suspected-fraud" => DeclineReason::SuspectedFraud,
        _ => bail!(
            "unknown decline reason {text:?} (other, unknown-payee, wrong-amount, already-paid, duplicate, unsupported-method, suspected-fraud)"
        ),
    })
}

pub(crate) fn cancel_reason(text: &str) -> Result<CancelReason> {
    Ok(match text {
        "other" => CancelReason::Other,
        "issued-in-error" => CancelReason::IssuedInError,
        "replaced" => CancelReason::Replaced,
        "paid-out-of-band" => CancelReason::PaidOutOfBand,
        "order-cancelled" => CancelReason::OrderCancelled,
        "suspected-fraud" => CancelReason::SuspectedFraud,
        _ => bail!(
            "unknown cancel reason {text:?} (other, issued-in-error, replaced, paid-out-of-band, order-cancelled, suspected-fraud)"
        ),
    })
}

/// A connected profile for one command: connects, fetches what arrived (and shows it), and at
/// the end shows what arrived meanwhile and closes.
pub(crate) struct Session<'a> {
    pub(crate) out: &'a mut Output,
    pub(crate) profile: &'a Profile,
    pub(crate) client: Client<SqliteStore>,
}

impl<'a> Session<'a> {
    pub(crate) async fn open(out: &'a mut Output, profile: &'a Profile) -> Result<Self> {
        Self::open_with(out, profile, clock_from_env()).await
    }

    async fn open_with(out: &'a mut Output, profile: &'a Profile, clock: Clock) -> Result<Self> {
        let client = profile.connect(clock).await?;
        tokio::time::timeout(Duration::from_secs(20), client.sync())
            .await
            .map_err(|_| anyhow!("the relay did not deliver our queue in time"))??;
        let mut s = Self {
            out,
            profile,
            client,
        };
        profile.pin_contacts(&s.client).await?;
        s.show_events().await;
        Ok(s)
    }

    async fn show_events(&mut self) {
        let mut events = Vec::new();
        while let Some(e) = self.client.try_next_event() {
            events.push(e);
        }
        let shown: Vec<_> = {
            let core = self.client.lock().await;
            events
                .iter()
                .filter_map(|e| event_line(self.profile, &core.engine, e))
                .collect()
        };
        for (line, value) in shown {
            self.out.line(&line);
            self.out.received.push(value);
        }
    }

    /// Resolves a request id or unique prefix among this profile's threads.
    pub(crate) async fn resolve(&self, text: &str) -> Result<Id> {
        let t = text.trim().to_ascii_lowercase();
        if t.len() < 4 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!(
                "invalid request id {text:?}: give at least 4 hex digits (as `remit inbox` prints)"
            );
        }
        let core = self.client.lock().await;
        let matches: Vec<Id> = core
            .engine
            .threads()
            .iter()
            .map(|(id, _, _)| *id)
            .filter(|id| hex::encode(id).starts_with(&t))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => bail!("unknown request {text:?} (run `remit inbox` to list them)"),
            _ => bail!("request id {text:?} is ambiguous: give more digits"),
        }
    }

    pub(crate) async fn report_sent(&mut self, sent: &remit_client::Sent, what: &str) {
        let report = self.client.flush().await.ok();
        let queued = report.is_some_and(|r| r.pending > 0);
        self.out.line(format!(
            "{what}: request {}, now {}{}",
            short_id(&sent.request_id),
            state_name(sent.state),
            if queued {
                " (queued: the relay is unreachable)"
            } else {
                ""
            }
        ));
        self.out
            .set("request_id", json!(hex::encode(sent.request_id)));
        self.out.set("state", json!(state_name(sent.state)));
        self.out.set("queued", json!(queued));
        if let Some(p) = sent.payment_id {
            self.out.set("payment_id", json!(hex::encode(p)));
        }
    }

    pub(crate) async fn finish(mut self) -> Result<()> {
        let _ = self.client.flush().await;
        self.show_events().await;
        self.client.close().await;
        Ok(())
    }

    async fn finish_with_threads(mut self) -> Result<()> {
        let _ = self.client.handle_timeout().await;
        self.show_events().await;
        let threads: Vec<(String, Value)> = {
            let core = self.client.lock().await;
            core.engine
                .threads()
                .iter()
                .map(|(id, _, _)| thread_line(self.profile, &core.engine, id))
                .collect()
        };
        if threads.is_empty() {
            self.out.line("no payment threads");
        } else {
            self.out.line("threads:");
        }
        for (line, _) in &threads {
            self.out.line(format!("  {line}"));
        }
        self.out.set(
            "threads",
            Value::Array(threads.into_iter().map(|(_, v)| v).collect()),
        );
        self.finish().await
    }
}
