"""``python -m pcap_analyzer`` runs the pcapan command line."""
from .cli import main

main()
