//! `berth top`: the daemon's ps output as docker's table (tabwriter minwidth 20).

use super::super::format::table;
use super::super::{CliResult, Ctx};
use super::{arity, parse, Arity};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "top",
    bin_name = "berth top",
    override_usage = "berth top CONTAINER [ps OPTIONS]",
    about = "Display the running processes of a container"
)]
struct TopArgs {
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<String>,
}

pub async fn top(ctx: &Ctx, args: &[String]) -> CliResult {
    let a: TopArgs = parse(args)?;
    arity::<TopArgs>(&a.args, Arity::Min(1))?;
    let ps_args = (a.args.len() > 1).then(|| a.args[1..].join(" "));
    let t = ctx
        .client
        .top_container(&a.args[0], ps_args.as_deref())
        .await?;
    let mut text = t.titles.join("\t");
    text.push('\n');
    for p in &t.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    print!("{}", table::align_with(&text, 20, 3));
    Ok(0)
}
