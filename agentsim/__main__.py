from agentsim.cli._main import main

raise SystemExit(main())
