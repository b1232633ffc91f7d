"""``python -m weixin_gateway`` runs the command line."""

from weixin_gateway.cli import main

if __name__ == "__main__":
    main()
