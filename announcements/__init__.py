"""What is said: Vietnamese text normalisation and the script library. Pure; no network, no audio."""
