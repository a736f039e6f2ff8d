//! Rule `context.oom_kill_seen_by_the_program`: a program's own output saying it was ended by
//! SIGKILL (exit status 137 = 128 + 9, `signal: killed`, `OOMKilled`) joined with the kernel's OOM
//! kill in a log given beside it. The OOM killer ends its victim with SIGKILL, so the program's
//! failure and the kernel's kill are one event: the reader need not look for another cause of the
//! exit. The join is certain when the program's line names the victim; otherwise it is made only
//! when the logs hold one OOM victim, and said as probable.

use super::{Conclusion, Facts};
use memdx_log::Kind;
use memdx_parse::messages::MessageKind;

pub const NAME: &str = "context.oom_kill_seen_by_the_program";

#[allow(clippy::ptr_arg)] // every rule has the signature of `Rule::run`
pub fn run(facts: &Facts, out: &mut Vec<Conclusion>) {
    let killed: Vec<_> =
        facts.case.messages.iter().filter(|(_, m)| matches!(m.kind, MessageKind::Sigkilled)).collect();
    if killed.is_empty() {
        return;
    }
    // The OOM kills of every log, one per victim pid.
    let mut victims: Vec<(&super::Rep, &str, u32)> = Vec::new();
    for rep in facts.reports.iter().filter(|r| r.r.kind == Kind::Oom) {
        let Some(m) = rep.r.mem.as_ref() else { continue };
        let (Some(v), Some(pid)) = (m.victim.as_deref(), m.victim_pid) else { continue };
        if !victims.iter().any(|(_, _, p)| *p == pid) {
            victims.push((rep, v, pid));
        }
    }
    for (src, msg) in killed {
        let lower = msg.text.to_ascii_lowercase();
        // The kernel cuts task names to 15 bytes: the program's line names the victim when it holds
        // that prefix as a word start.
        let named = victims.iter().find(|(_, v, _)| v.len() >= 4 && lower.contains(&v.to_ascii_lowercase()));
        let (rep, victim, pid, sure) = match (named, victims.as_slice()) {
            (Some(&(r, v, p)), _) => (r, v, p, true),
            (None, [(r, v, p)]) => (*r, *v, *p, false),
            _ => continue,
        };
        let Some(c) = out.iter_mut().find(|c| c.covers_any(&[rep.key()])) else { continue };
        let first = !c.chain.iter().any(|l| l.finding.as_deref() == Some("userspace.sigkill"));
        c.link(
            format!(
                "the program's own output says it was ended by SIGKILL (`{}`): {} the OOM kill of {victim} (pid {pid})",
                msg.text.trim(),
                if sure { "it names the victim, so this is" } else { "the only OOM kill in the logs, so probably" }
            ),
            Some("userspace.sigkill"),
            Some(src.clone()),
        );
        if first {
            c.cause.push_str(&format!(
                " The program's exit by SIGKILL (status 137 = 128 + 9) in {} is {}this kill, not a crash of its own.",
                src.file,
                if sure { "" } else { "probably " }
            ));
        }
        c.covers.push(format!("message:{}:{}", src.file, msg.line));
    }
}
