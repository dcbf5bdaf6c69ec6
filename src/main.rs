//! `powerbirth`: the command line. Everything it does lives in the library (`powerbirth::cli`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    // SAFETY: the first statement, before the runtime or anything else starts a thread.
    unsafe { powerbirth::threads::pin_candle_threads() };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,perpetual=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = powerbirth::cli::Cli::parse();
    match powerbirth::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
