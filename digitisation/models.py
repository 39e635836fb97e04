# Projects, batches and digitisation events arrive with the manager-reporting issue.
