from filelinks_api.cli import main

raise SystemExit(main())
