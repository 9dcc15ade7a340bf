# collects triage data (a live response library script in the tests)
echo "triage $1"
