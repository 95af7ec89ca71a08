from alertcb.cli import main

raise SystemExit(main())
