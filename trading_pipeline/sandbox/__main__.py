from trading_pipeline.sandbox.command import main

raise SystemExit(main())
