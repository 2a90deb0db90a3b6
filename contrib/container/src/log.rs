//! `container-log`: the logger of the container image's example service. A
//! scratch image has no shell to write `exec multilog t ./main` in a `run`
//! script, so `log/run` is a symbolic link to this program, which execs
//! exactly that: `multilog t s1000000 n10 ./main`, found through PATH as
//! daemontools finds programs.

fn main() {
    let argv: [&[u8]; 5] = [b"multilog", b"t", b"s1000000", b"n10", b"./main"];
    let e = daemontools::exec::Command::with_current_env(&argv).exec();
    eprintln!("container-log: fatal: unable to run multilog: {e}");
    std::process::exit(111);
}
