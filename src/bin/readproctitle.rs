#![cfg_attr(not(test), no_main)]
daemontools::program_with_title!(daemontools::cmd::readproctitle::main);
