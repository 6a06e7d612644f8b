//! Where the session's commands come from: standard input, line by line, read on a thread
//! of its own so that a Ctrl-C is noticed while the prompt waits. A person at a terminal
//! gets a `repro> ` prompt; piped input (a test, a saved list of commands) gets none.

use std::io::{BufRead, IsTerminal, Write};

use tokio::sync::mpsc;

/// The prompt shown before each command at a terminal.
pub const PROMPT: &str = "repro> ";

/// Lines of standard input, as they are typed.
pub struct Prompt {
    lines: mpsc::Receiver<std::io::Result<String>>,
    interactive: bool,
}

impl Prompt {
    /// Starts reading standard input.
    pub fn stdin() -> Prompt {
        let interactive = std::io::stdin().is_terminal();
        let (tx, lines) = mpsc::channel(16);
        // Blocking reads on a plain thread: a tokio blocking task would keep the runtime
        // from shutting down while it waits for a line that never comes.
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let failed = line.is_err();
                if tx.blocking_send(line).is_err() || failed {
                    break;
                }
            }
        });
        Prompt { lines, interactive }
    }

    /// Whether a person types the commands (the prompt is shown, a summary may be asked).
    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// The next line, after showing `prompt` at a terminal; `None` at the end of input.
    pub async fn next_line(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
        if self.interactive {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{prompt}");
            let _ = out.flush();
        }
        self.lines.recv().await.transpose()
    }
}
