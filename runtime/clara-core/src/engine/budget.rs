//! Budgets as the engine keeps them: which caps a model call falls under, what each has spent
//! in its window (read from the usage log once, then kept here), and the reservations of calls
//! still running, so two turns at once cannot both take the last of a budget.
//!
//! When several caps would be passed, the strictest action wins: `refuse`, then `downgrade`,
//! then `warn`; between two downgrades, a `budget` step's comes before `[budgets]`, then by
//! name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use clara_config::model::budget::{
    Budget, BudgetAction, BudgetScope, BudgetWindow, CallKind, Downgrade,
};

use super::EngineError;
use super::event_data::{BudgetSpending, EventData};
use super::events::{Event, EventSink};
use super::meter::{Meter, NamedBudget, Spend, TurnSpend};
use crate::store::{Millis, Store, UsageFilter};

/// Every budget of a generation, with its spending.
pub(crate) struct Budgets {
    /// `[budgets]`, by name.
    shared: Vec<Arc<NamedBudget>>,
    /// Each pipeline's persona, for `per = "persona"` and `personas = […]`.
    personas: BTreeMap<String, String>,
    ledger: Mutex<HashMap<Key, Entry>>,
}

/// One budget's spending for one scope in one window.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    budget: String,
    scope: String,
    start: Millis,
}

#[derive(Debug, Default)]
struct Entry {
    /// Settled calls (and, from before this generation, the usage log's).
    spent: Spend,
    /// Calls still running, at their estimate.
    reserved: Spend,
    end: Millis,
    warned: bool,
    /// `warn` and `downgrade` overruns are said once a window; refusals every time.
    overrun_said: bool,
}

/// A budget refused a call.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRefusal {
    /// The budget's name.
    pub budget: String,
    /// `day`, `month`, …
    pub window: &'static str,
    /// The budget's own reply, when it has one (else the persona's `budget_reply`).
    pub reply: Option<String>,
    /// When the window ends and the budget is fresh again; `None` for a per-turn cap.
    pub retry_at: Option<Millis>,
}

impl std::fmt::Display for BudgetRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "budget `{}` is spent for this {}",
            self.budget, self.window
        )
    }
}

/// A call let through: where it goes, and its reservation until it settles.
pub(crate) struct Admission<'a> {
    /// Where a `downgrade` moves it.
    pub downgrade: Option<&'a Downgrade>,
    budgets: &'a Budgets,
    /// The budgets it counts against: their keys (none for per-turn caps) and names.
    held: Vec<(Option<Key>, &'a NamedBudget)>,
    estimate: Spend,
    settled: bool,
}

/// One cap that applies to a call, with its key and where it stands.
struct Covered<'a> {
    budget: &'a NamedBudget,
    scope: String,
    key: Option<Key>,
    /// Window end, for clock windows.
    end: Option<Millis>,
}

impl Budgets {
    pub(crate) fn new(
        shared: &BTreeMap<String, Budget>,
        personas: BTreeMap<String, String>,
    ) -> Self {
        Budgets {
            shared: shared
                .iter()
                .map(|(name, budget)| {
                    Arc::new(NamedBudget {
                        name: name.clone(),
                        owner: None,
                        budget: budget.clone(),
                    })
                })
                .collect(),
            personas,
            ledger: Mutex::default(),
        }
    }

    /// Whether any budget could apply to `meter`'s calls: without one, a call is not even
    /// estimated.
    pub(crate) fn any(&self, meter: &Meter<'_>) -> bool {
        !meter.budgets.is_empty() || self.shared.iter().any(|b| b.budget.covers(meter.purpose))
    }

    fn ledger(&self) -> MutexGuard<'_, HashMap<Key, Entry>> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The caps `meter`'s call falls under, the step's first.
    fn covering<'a>(&'a self, meter: &Meter<'a>, now: Millis) -> Vec<Covered<'a>> {
        let persona = meter.pipeline.and_then(|p| self.personas.get(p));
        let in_list = |list: &[String], name: Option<&String>| {
            list.is_empty() || name.is_some_and(|n| list.contains(n))
        };
        let pipeline = meter.pipeline.map(str::to_owned);
        meter
            .budgets
            .iter()
            .chain(&self.shared)
            .filter(|b| {
                let budget = &b.budget;
                budget.covers(meter.purpose)
                    && in_list(&budget.pipelines, pipeline.as_ref())
                    && in_list(&budget.personas, persona)
                    && b.owner.as_deref().is_none_or(|o| meter.pipeline == Some(o))
            })
            .filter_map(|b| {
                let budget = &b.budget;
                let Some((start, end)) = budget.window.bounds(now) else {
                    return Some(Covered {
                        budget: b,
                        scope: "turn".to_owned(),
                        key: None,
                        end: None,
                    });
                };
                let scope = match budget.per {
                    BudgetScope::User => meter.user_id.map(str::to_owned),
                    BudgetScope::Channel => meter.conversation.map(str::to_owned),
                    BudgetScope::Persona => persona.cloned(),
                    BudgetScope::Pipeline => pipeline.clone(),
                    BudgetScope::Everyone => Some("*".to_owned()),
                }?;
                Some(Covered {
                    budget: b,
                    key: Some(Key {
                        budget: b.name.clone(),
                        scope: scope.clone(),
                        start,
                    }),
                    scope,
                    end: Some(end),
                })
            })
            .collect()
    }

    /// The usage log's calls that count against `budget` for `scope`.
    fn filter(&self, budget: &NamedBudget, scope: &str) -> UsageFilter {
        let options = &budget.budget;
        let mut pipelines: Option<BTreeSet<String>> = None;
        let mut narrow = |set: BTreeSet<String>| {
            pipelines = Some(match pipelines.take() {
                None => set,
                Some(had) => had.intersection(&set).cloned().collect(),
            });
        };
        let of_personas = |wanted: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
            self.personas
                .iter()
                .filter(|(_, persona)| wanted(persona))
                .map(|(pipeline, _)| pipeline.clone())
                .collect()
        };
        if let Some(owner) = &budget.owner {
            narrow(BTreeSet::from([owner.clone()]));
        }
        if !options.pipelines.is_empty() {
            narrow(options.pipelines.iter().cloned().collect());
        }
        if !options.personas.is_empty() {
            narrow(of_personas(&|p| options.personas.iter().any(|w| w == p)));
        }
        match options.per {
            BudgetScope::Pipeline => narrow(BTreeSet::from([scope.to_owned()])),
            BudgetScope::Persona => narrow(of_personas(&|p| p == scope)),
            _ => {}
        }
        let is = |per: BudgetScope| (options.per == per).then(|| scope.to_owned());
        UsageFilter {
            user_id: is(BudgetScope::User),
            conversation: is(BudgetScope::Channel),
            pipelines: pipelines.map(|p| p.into_iter().collect()),
            purposes: purposes(budget),
        }
    }

    /// Lets a call estimated at `estimate` through, downgraded, or not at all, and reserves
    /// the estimate against every budget it counts against until [`Admission::settle`].
    pub(crate) async fn admit<'a>(
        &'a self,
        meter: &Meter<'a>,
        estimate: Spend,
        now: Millis,
        store: &dyn Store,
        events: &dyn EventSink,
    ) -> Result<Admission<'a>, EngineError> {
        let covered = self.covering(meter, now);
        // Spending from before this generation is read once per budget, scope and window.
        let missing: Vec<&Covered<'_>> = {
            let ledger = self.ledger();
            covered
                .iter()
                .filter(|c| c.key.as_ref().is_some_and(|k| !ledger.contains_key(k)))
                .collect()
        };
        let mut loaded = Vec::with_capacity(missing.len());
        for c in missing {
            let key = c.key.clone().expect("clock windows have keys");
            let total = store
                .usage_spent(&self.filter(c.budget, &c.scope), key.start)
                .await?;
            let spent = Spend {
                tokens: total.input_tokens
                    + total.output_tokens
                    + total.cache_read_tokens
                    + total.cache_write_tokens,
                micros: total.cost_micros,
            };
            loaded.push((key, spent, c.end.unwrap_or(now)));
        }

        let turn_spent = meter.spent.map(TurnSpend::get).unwrap_or_default();
        let mut ledger = self.ledger();
        if !loaded.is_empty() {
            // Windows that ended and hold no running call are dropped as new ones open.
            ledger.retain(|_, e| e.end > now || e.reserved != Spend::default());
        }
        for (key, spent, end) in loaded {
            ledger.entry(key).or_insert(Entry {
                spent,
                end,
                ..Entry::default()
            });
        }
        let mut over: Vec<(&Covered<'_>, Spend)> = Vec::new();
        for c in &covered {
            let used = match &c.key {
                Some(key) => ledger
                    .get(key)
                    .map(|e| e.spent.plus(e.reserved))
                    .unwrap_or_default(),
                None => turn_spent,
            };
            if passes(&c.budget.budget, used.plus(estimate)) {
                over.push((c, used));
            }
        }
        let strictest = [
            BudgetAction::Refuse,
            BudgetAction::Downgrade,
            BudgetAction::Warn,
        ]
        .into_iter()
        .find_map(|action| over.iter().find(|(c, _)| c.budget.budget.action == action));
        for (c, used) in &over {
            let budget = &c.budget.budget;
            let said = match &c.key {
                Some(key) if budget.action != BudgetAction::Refuse => ledger
                    .get_mut(key)
                    .is_some_and(|e| std::mem::replace(&mut e.overrun_said, true)),
                _ => false,
            };
            if !said {
                let spending = spending(c.budget, &c.scope, *used, budget.action, meter.purpose);
                tracing::warn!(
                    budget = %spending.budget,
                    scope = %spending.scope,
                    window = %spending.window,
                    tokens = spending.tokens,
                    cost_micros = spending.cost_micros,
                    action = %spending.action,
                    "a model call would pass a budget's cap"
                );
                events.emit(event(meter, EventData::BudgetExceeded(spending)));
            }
        }
        if let Some((c, _)) = strictest
            && c.budget.budget.action == BudgetAction::Refuse
        {
            let budget = &c.budget.budget;
            // Work held back waits until every refusing budget has room again; a per-turn cap
            // that refuses it never will.
            let refusing = over
                .iter()
                .filter(|(c, _)| c.budget.budget.action == BudgetAction::Refuse);
            let retry_at = refusing
                .map(|(c, _)| c.end)
                .collect::<Option<Vec<Millis>>>()
                .and_then(|ends| ends.into_iter().max());
            return Err(EngineError::Budget(BudgetRefusal {
                budget: c.budget.name.clone(),
                window: budget.window.as_str(),
                reply: budget.reply.clone(),
                retry_at,
            }));
        }
        let downgrade = strictest
            .filter(|(c, _)| c.budget.budget.action == BudgetAction::Downgrade)
            .and_then(|(c, _)| c.budget.budget.downgrade.as_ref());
        for c in &covered {
            if let Some(entry) = c.key.as_ref().and_then(|k| ledger.get_mut(k)) {
                entry.reserved.add(estimate);
            }
        }
        Ok(Admission {
            downgrade,
            budgets: self,
            held: covered.into_iter().map(|c| (c.key, c.budget)).collect(),
            estimate,
            settled: false,
        })
    }
}

/// The kinds of call whose spending a budget counts; `None` for all. A `budget` step's caps
/// meter its pipeline's turns, never the memory work they queue, so that is never counted.
fn purposes(budget: &NamedBudget) -> Option<Vec<String>> {
    let calls = &budget.budget.calls;
    if budget.owner.is_none() && calls.is_empty() {
        return None;
    }
    let kinds = if calls.is_empty() {
        CallKind::ALL.as_slice()
    } else {
        calls.as_slice()
    };
    let counted = kinds
        .iter()
        .filter(|k| budget.owner.is_none() || **k != CallKind::Memory)
        .map(|k| k.as_str().to_owned())
        .collect();
    Some(counted)
}

/// Whether `used` passes one of the budget's caps.
fn passes(budget: &Budget, used: Spend) -> bool {
    budget.tokens.is_some_and(|cap| used.tokens > cap)
        || budget.dollars_micros().is_some_and(|cap| used.micros > cap)
}

/// Whether `used` reached the budget's `warn_at` share of a cap.
fn nearing(budget: &Budget, used: Spend) -> bool {
    let share = |used: f64, cap: f64| cap > 0.0 && used >= budget.warn_at * cap;
    budget
        .tokens
        .is_some_and(|cap| share(used.tokens as f64, cap as f64))
        || budget
            .dollars_micros()
            .is_some_and(|cap| share(used.micros as f64, cap as f64))
}

fn spending(
    named: &NamedBudget,
    scope: &str,
    used: Spend,
    action: BudgetAction,
    purpose: &str,
) -> BudgetSpending {
    let budget = &named.budget;
    BudgetSpending {
        budget: named.name.clone(),
        per: match budget.window {
            BudgetWindow::Turn => "turn",
            _ => budget.per.as_str(),
        }
        .to_owned(),
        scope: scope.to_owned(),
        window: budget.window.as_str().to_owned(),
        tokens: used.tokens,
        tokens_limit: budget.tokens,
        cost_micros: used.micros,
        cost_limit_micros: budget.dollars_micros(),
        action: action.as_str().to_owned(),
        purpose: purpose.to_owned(),
    }
}

fn event(meter: &Meter<'_>, data: EventData) -> Event {
    Event {
        platform: meter.turn.map(|(platform, _)| platform.to_owned()),
        user_id: meter.user_id.map(str::to_owned),
        channel_id: meter.conversation.map(str::to_owned),
        request_id: meter.turn.map(|(_, request)| request.to_owned()),
        automated: meter.automated,
        data,
    }
}

impl Admission<'_> {
    /// Replaces the call's reservation with what it really spent, and says when a budget
    /// passes its `warn_at` share.
    pub(crate) fn settle(mut self, spent: Spend, meter: &Meter<'_>, events: &dyn EventSink) {
        self.settled = true;
        let mut warnings = Vec::new();
        {
            let mut ledger = self.budgets.ledger();
            for (key, named) in &self.held {
                let Some(key) = key else {
                    // The turn's spending, this call included (the meter added it); a
                    // background call is a window of its own.
                    let used = meter.spent.map_or(spent, TurnSpend::get);
                    let before = Spend {
                        tokens: used.tokens.saturating_sub(spent.tokens),
                        micros: used.micros - spent.micros,
                    };
                    if nearing(&named.budget, used) && !nearing(&named.budget, before) {
                        warnings.push(("turn".to_owned(), *named, used));
                    }
                    continue;
                };
                let Some(entry) = ledger.get_mut(key) else {
                    continue;
                };
                entry.reserved.remove(self.estimate);
                entry.spent.add(spent);
                if !entry.warned && nearing(&named.budget, entry.spent) {
                    entry.warned = true;
                    warnings.push((key.scope.clone(), *named, entry.spent));
                }
            }
        }
        for (scope, named, used) in warnings {
            let spending = spending(named, &scope, used, BudgetAction::Warn, meter.purpose);
            tracing::info!(budget = %spending.budget, scope = %spending.scope, tokens = spending.tokens, cost_micros = spending.cost_micros, "a budget passed its warning share");
            events.emit(event(meter, EventData::BudgetWarning(spending)));
        }
    }
}

impl Drop for Admission<'_> {
    /// A call that failed or was cancelled gives its reservation back.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut ledger = self.budgets.ledger();
        for (key, _) in &self.held {
            if let Some(entry) = key.as_ref().and_then(|k| ledger.get_mut(k)) {
                entry.reserved.remove(self.estimate);
            }
        }
    }
}
