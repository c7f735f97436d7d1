"""Direct streaming: a customer-scoped ThingsBoard token for apps that stream straight from ThingsBoard."""
