from agentsim._cli import main

raise SystemExit(main())
