#![no_main]
daemontools::program!(daemontools::cmd::svcfront::svcstop);
