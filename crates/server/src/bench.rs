//! The search benchmark (`enclave admin seed-bench` and `enclave admin bench-search`, hidden
//! commands): fills a data folder with a fixed, reproducible corpus of mixed English and
//! Chinese messages through the application services (the real write path, index included),
//! then times a fixed set of searches through the same service the REST API calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use enclave_app::{Actor, ChannelInput, Channels, CreateUser, Messages, PostInput, Search};
use enclave_core::{ChannelId, ChannelKind, RoleSet, UserId};
use indicatif::{ProgressBar, ProgressStyle};

/// A small deterministic generator (SplitMix64), so a seed always gives the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    /// Zipf-like: low indexes are much more common, as words are in real text.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

const ENGLISH: &[&str] = &[
    "the",
    "a",
    "to",
    "and",
    "of",
    "we",
    "is",
    "for",
    "on",
    "in",
    "it",
    "this",
    "that",
    "with",
    "can",
    "please",
    "will",
    "should",
    "team",
    "meeting",
    "project",
    "deadline",
    "report",
    "quarterly",
    "budget",
    "review",
    "release",
    "customer",
    "deploy",
    "server",
    "database",
    "design",
    "plan",
    "update",
    "issue",
    "ticket",
    "test",
    "build",
    "bug",
    "fix",
    "feature",
    "schedule",
    "tomorrow",
    "today",
    "friday",
    "monday",
    "agenda",
    "notes",
    "draft",
    "final",
    "approval",
    "contract",
    "invoice",
    "sales",
    "marketing",
    "hiring",
    "interview",
    "office",
    "lunch",
    "holiday",
    "travel",
    "expense",
    "security",
    "audit",
    "backup",
    "migration",
    "latency",
    "metrics",
    "dashboard",
    "incident",
    "outage",
    "rollback",
    "staging",
    "production",
    "roadmap",
    "milestone",
    "sprint",
    "retro",
    "standup",
    "demo",
    "feedback",
    "proposal",
    "résumé",
    "café",
    "naïve",
    "data",
    "analysis",
    "spreadsheet",
    "slides",
    "document",
    "policy",
    "compliance",
    "training",
    "onboarding",
    "laptop",
    "network",
    "printer",
];

const CHINESE: &[&str] = &[
    "我们",
    "今天",
    "明天",
    "会议",
    "项目",
    "项目经理",
    "进度",
    "报告",
    "季度",
    "预算",
    "审批",
    "客户",
    "合同",
    "发布",
    "上线",
    "测试",
    "服务器",
    "数据库",
    "设计",
    "方案",
    "问题",
    "需求",
    "文档",
    "培训",
    "安全",
    "审计",
    "备份",
    "迁移",
    "领导",
    "部门",
    "同事",
    "讨论",
    "确认",
    "安排",
    "时间",
    "地点",
    "会议室",
    "下午",
    "上午",
    "周五",
    "周一",
    "请",
    "大家",
    "注意",
    "已经",
    "完成",
    "还有",
    "需要",
    "一下",
    "这个",
    "那个",
    "可以",
    "没有",
    "什么",
    "为什么",
    "财务",
    "发票",
    "报销",
    "出差",
    "招聘",
    "面试",
    "人事",
    "行政",
    "系统",
    "网络",
    "打印机",
    "故障",
    "回滚",
    "监控",
    "指标",
    "里程碑",
    "冲刺",
    "复盘",
    "反馈",
    "建议",
    "政策",
    "合规",
];

/// One message: English, Chinese, or both mixed, 4 to 24 words.
fn sentence(rng: &mut Rng) -> String {
    let n = 4 + rng.below(21);
    let mode = rng.below(10); // 0-4 English, 5-7 Chinese, 8-9 mixed
    let mut out = String::new();
    for i in 0..n {
        let chinese = match mode {
            0..=4 => false,
            5..=7 => true,
            _ => rng.below(2) == 0,
        };
        if chinese {
            out.push_str(CHINESE[rng.skewed(CHINESE.len())]);
            if i + 1 < n && rng.below(6) == 0 {
                out.push('，');
            }
        } else {
            if i > 0 {
                out.push(' ');
            }
            let w = ENGLISH[rng.skewed(ENGLISH.len())];
            if i == 0 {
                let mut c = w.chars();
                if let Some(f) = c.next() {
                    out.extend(f.to_uppercase());
                    out.push_str(c.as_str());
                }
            } else {
                out.push_str(w);
            }
        }
    }
    out.push(if (5..=7).contains(&mode) { '。' } else { '.' });
    out
}

/// Users `bench0..`, channels `bench-0..`; `bench0` (who runs the searches) is in every third
/// channel, the others in random ones.
pub async fn seed(
    accounts: &enclave_app::Accounts,
    channels: &Channels,
    messages: Arc<Messages>,
    n_messages: u64,
    n_channels: usize,
    n_users: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut rng = Rng(seed);
    let mut users: Vec<UserId> = Vec::new();
    for i in 0..n_users {
        let u = accounts
            .create_user(
                None,
                CreateUser {
                    username: format!("bench{i}"),
                    password: None,
                    display_name: None,
                    email: None,
                    is_admin: false,
                    is_bot: false,
                    is_guest: false,
                    guest_expires_at: None,
                    origin: None,
                },
            )
            .await
            .with_context(|| format!("creating bench{i} (seed an empty data folder)"))?;
        users.push(u.id);
    }
    let actor = |id: UserId| Actor::new(id, RoleSet::MEMBER);
    let mut members: Vec<(ChannelId, Vec<UserId>)> = Vec::new();
    for c in 0..n_channels {
        let owner = if c % 3 == 0 {
            users[0]
        } else {
            users[1 + rng.below(n_users - 1)]
        };
        let ch = channels
            .create(
                &actor(owner),
                ChannelInput {
                    name: format!("bench-{c}"),
                    kind: ChannelKind::Public,
                    topic: None,
                    purpose: None,
                    announcement: false,
                },
            )
            .await?;
        let mut in_it = vec![owner];
        for _ in 0..8 {
            let u = users[1 + rng.below(n_users - 1)];
            if !in_it.contains(&u) {
                channels.join(&actor(u), ch.id).await?;
                in_it.push(u);
            }
        }
        members.push((ch.id, in_it));
    }
    let bar = ProgressBar::new(n_messages);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos:>9}/{len:<9} {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix("messages");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n_messages {
        let (ch, who) = &members[rng.below(members.len())];
        let author = who[rng.below(who.len())];
        let text = sentence(&mut rng);
        let messages = messages.clone();
        let ch = *ch;
        tasks.spawn(async move {
            messages
                .post(
                    &actor(author),
                    ch,
                    PostInput {
                        text,
                        ..PostInput::default()
                    },
                )
                .await
        });
        if tasks.len() >= 2048
            && let Some(done) = tasks.join_next().await
        {
            done??;
            bar.inc(1);
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
        bar.inc(1);
    }
    bar.finish();
    println!(
        "seeded {n_messages} messages in {n_channels} channels by {n_users} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The queries timed by `bench-search`, as typed in the search box.
pub const QUERIES: &[&str] = &[
    "deadline",
    "meeting",
    "quarterly report",
    "\"quarterly report\"",
    "cafe",
    "roadm*",
    "会议",
    "项目",
    "项目经理",
    "会议 meeting",
    "from:@bench1 budget",
    "in:#bench-3 会议",
    "after:2000-01-01 审批 客户",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs every query `runs` times as `bench0` (first page of 20), after one warm-up round, and
/// prints p50/p95 per query and over all of them.
pub async fn run_queries(search: &Search, user: UserId, runs: usize) -> anyhow::Result<()> {
    let actor = Actor::new(user, RoleSet::MEMBER);
    for q in QUERIES {
        search.messages(&actor, q, 20, 0).await?;
    }
    let mut all = Vec::new();
    println!("| query | results (page 1) | p50 ms | p95 ms |");
    println!("| --- | ---: | ---: | ---: |");
    for q in QUERIES {
        let mut times = Vec::with_capacity(runs);
        let mut n = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let page = search.messages(&actor, q, 20, 0).await?;
            times.push(t.elapsed());
            n = page.hits.len();
        }
        times.sort();
        println!(
            "| `{q}` | {n} | {:.2} | {:.2} |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95))
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "| **all {} searches** | | {:.2} | {:.2} |",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.95))
    );
    Ok(())
}
