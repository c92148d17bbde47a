"""The endpoints of /api2/json, one module per part of Proxmox's API tree. Each parses its parameters
(api/params.py) and calls the service the pages call."""
