from textsweep.cli import main

raise SystemExit(main())
