"""twostep's domain: everything that decides lives here, with no azure.functions import."""
